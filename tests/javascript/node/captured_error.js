// A caught error reported with captureException (run twice by the test: one issue, two events).
const Sentry = require("./instrument");
const { checkout } = require("./cart");

async function main() {
  try {
    checkout([], process.env.MARKER);
  } catch (err) {
    Sentry.captureException(err);
  }
  await Sentry.flush(10000);
}

main();
