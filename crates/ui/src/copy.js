// Copy buttons: <button data-copy="ID"> copies the text of the element with that id.
// Where the clipboard API is unavailable (plain http), the text is selected and copied
// the old way.
(function () {
  "use strict";
  function done(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  function fallback(el, button) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { if (document.execCommand("copy")) { done(button); } } catch (e) { /* selected; the reader copies */ }
  }
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button[data-copy]") : null;
    if (!button) { return; }
    var el = document.getElementById(button.getAttribute("data-copy"));
    if (!el) { return; }
    var text = el.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(button); }, function () { fallback(el, button); });
    } else {
      fallback(el, button);
    }
  });
})();
