// A root span with two child spans and a log line inside it; prints the trace id.
const Sentry = require("./instrument");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const marker = process.env.MARKER;
  let traceId;
  await Sentry.startSpan({ name: `process-order ${marker}`, op: "task" }, async (root) => {
    traceId = root.spanContext().traceId;
    await Sentry.startSpan({ name: "SELECT order", op: "db.query" }, () => sleep(80));
    await Sentry.startSpan({ name: "POST payment", op: "http.client" }, () => sleep(15));
    Sentry.logger.info(Sentry.logger.fmt`order ${marker} paid`, { "order.total": 42.5, "order.items": 3, paid: true });
  });
  Sentry.logger.warn(`stock low after ${marker}`, { sku: "A-100", remaining: 2 });
  Sentry.logger.error(`refund failed for ${marker}`, { provider: "acme" });
  await Sentry.flush(10000);
  console.log(JSON.stringify({ traceId }));
}

main();
