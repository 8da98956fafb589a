// The code that fails: two functions of the app, so the stack has in-app frames with names.
function computeTotal(items, marker) {
  if (items.length === 0) {
    throw new RangeError(`cart ${marker} is empty: nothing to check out`);
  }
  return items.reduce((sum, item) => sum + item.price, 0);
}

function checkout(items, marker) {
  return computeTotal(items, marker);
}

module.exports = { checkout, computeTotal };
