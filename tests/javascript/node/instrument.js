// What a Node service's instrument.js looks like: required first, before anything else.
const Sentry = require("@sentry/node");

Sentry.init({
  dsn: process.env.SENTRY_DSN,
  tracesSampleRate: 1.0,
  enableLogs: true,
  release: process.env.SENTRY_RELEASE || "storefront@1.0.0",
  environment: "e2e",
});

module.exports = Sentry;
