// An error nobody catches: the SDK's onUncaughtException handler reports it and exits 1.
require("./instrument");

function loadInventory(marker) {
  const inventory = undefined;
  if (!inventory) {
    throw new TypeError(`inventory ${marker} could not be loaded`);
  }
}

setTimeout(() => loadInventory(process.env.MARKER), 10);
