// A small Node service reporting to Pharos through the unchanged @sentry/node.
import * as Sentry from "@sentry/node";
import { checkout } from "./checkout.js";

Sentry.init({
  dsn: process.env.SENTRY_DSN,
  release: process.env.SENTRY_RELEASE,
  defaultIntegrations: false,
});

async function main() {
  try {
    checkout({ items: [] });
  } catch (err) {
    Sentry.captureException(err);
  }
  await Sentry.flush(10000);
}

main();
