// A plain node:http server instrumented by @sentry/node (http.server spans and request-mode
// sessions), called by itself: three good requests and one that reports an error.
const Sentry = require("./instrument");
const http = require("node:http");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const server = http.createServer(async (req, res) => {
  if (req.url.startsWith("/orders")) {
    await Sentry.startSpan({ name: "SELECT * FROM orders", op: "db.query" }, () => sleep(20));
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"orders": []}');
  } else if (req.url.startsWith("/fail")) {
    Sentry.captureException(new Error(`payment backend down ${process.env.MARKER}`));
    res.writeHead(500);
    res.end("error");
  } else {
    res.writeHead(404);
    res.end("not found");
  }
});

function get(port, path) {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    }).on("error", reject);
  });
}

server.listen(0, "127.0.0.1", async () => {
  const { port } = server.address();
  const statuses = [];
  for (const path of ["/orders", "/orders", "/orders", "/fail"]) {
    statuses.push(await get(port, path));
  }
  await sleep(100); // the response "close" events that end the request sessions
  server.close();
  await Sentry.flush(10000);
  console.log(JSON.stringify({ statuses }));
});
