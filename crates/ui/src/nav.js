// On a phone the navigation bars scroll sideways: bring each bar's current item into
// view, so the section you are in is never hidden past the edge. Only the bar scrolls.
(function () {
  "use strict";
  document.querySelectorAll("header.top nav.main, nav.sub").forEach(function (bar) {
    var current = bar.querySelector("a.current");
    if (!current || bar.scrollWidth <= bar.clientWidth) { return; }
    bar.scrollLeft = current.offsetLeft - bar.offsetLeft - (bar.clientWidth - current.offsetWidth) / 2;
  });
})();
