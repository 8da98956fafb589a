// A small web app using @sentry/browser as its docs say (npm package, bundled by the app's
// build: esbuild here). The DSN, release and a marker come from the page's query string.
import * as Sentry from "@sentry/browser";

const params = new URLSearchParams(window.location.search);
const marker = params.get("marker") || "none";

Sentry.init({
  dsn: params.get("dsn"),
  release: params.get("release") || "storefront-web@1.0.0",
  environment: "e2e",
  tracesSampleRate: 1.0,
  enableLogs: true,
  integrations: [Sentry.browserTracingIntegration()],
  // With a header of its own on every request (`?header=1`), each POST is preflighted.
  ...(params.get("header") && { transportOptions: { headers: { "X-Requested-With": "storefront" } } }),
});

function addToBasket(item) {
  if (!item) {
    throw new Error(`basket ${marker} rejected an empty item`);
  }
}

function onBuyClick() {
  addToBasket(null);
}

function onLogClick() {
  Sentry.logger.warn(Sentry.logger.fmt`checkout ${marker} slow`, { step: "payment", elapsed_ms: 1234 });
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("buy").addEventListener("click", onBuyClick);
  document.getElementById("log").addEventListener("click", onLogClick);
  document.getElementById("status").textContent = "ready";
});

// For the test: send what is buffered now.
window.sentryFlush = () => Sentry.flush(10000);
