// Live tail for /logs: the "Live" button streams the lines matching the page's search
// from /api/v1/logs/tail (server-sent events) and puts each at the top of the results.
// "Pause" holds new lines back until resumed, so a line being read does not move. The
// page is whole without this script; the buttons stay hidden when it does not run.
(function () {
  "use strict";
  var toggle = document.getElementById("live-toggle");
  var pause = document.getElementById("live-pause");
  var status = document.getElementById("live-status");
  var list = document.getElementById("log-results");
  if (!toggle || !pause || !list || !window.EventSource) return;

  // Enough to scroll back through; more makes the page slow.
  var MAX_ROWS = 1000;
  var source = null;
  var paused = false;
  var held = [];
  var shown = 0;

  toggle.hidden = false;

  function say(text) {
    if (status) status.textContent = text;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function levelClass(level) {
    return level ? String(level).toLowerCase() : "none";
  }

  // The same shape as the server's rows (entry.rs), without the filter links.
  function row(entry) {
    var level = levelClass(entry.level);
    var li = el("li", "log-entry live lvl-" + level);
    var details = el("details");
    var summary = el("summary");
    var t = String(entry.time || "");
    summary.appendChild(el("time", "t", t.slice(11, 23).replace("Z", "")));
    summary.appendChild(el("span", "level " + level, entry.level || "—"));
    summary.appendChild(el("span", "svc", entry.service));
    if (entry.logger) summary.appendChild(el("span", "logger", entry.logger));
    var lines = String(entry.message || "").split("\n");
    summary.appendChild(el("span", "msg", lines[0].slice(0, 400)));
    if (lines.length > 1) {
      var n = lines.length - 1;
      summary.appendChild(el("span", "tag more", "+" + n + (n === 1 ? " line" : " lines")));
    }
    details.appendChild(summary);
    var body = el("div", "log-detail");
    body.appendChild(el("pre", "log-message", entry.message));
    var table = el("table", "log-fields");
    var tbody = el("tbody");
    var pairs = [["time", entry.time], ["service", entry.service], ["level", entry.level],
      ["logger", entry.logger], ["host", entry.host], ["source", entry.source],
      ["trace_id", entry.trace_id]];
    var fields = entry.fields || {};
    Object.keys(fields).forEach(function (k) {
      var v = fields[k];
      pairs.push([k, typeof v === "string" ? v : JSON.stringify(v)]);
    });
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null) return;
      var tr = el("tr");
      tr.appendChild(el("td", null, p[0]));
      var td = el("td");
      td.appendChild(el("code", null, p[1]));
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    body.appendChild(table);
    details.appendChild(body);
    li.appendChild(details);
    return li;
  }

  function show(entry) {
    list.insertBefore(row(entry), list.firstChild);
    shown += 1;
    while (list.children.length > MAX_ROWS) list.removeChild(list.lastChild);
    var empty = document.getElementById("log-empty");
    if (empty) empty.hidden = true;
  }

  function report() {
    if (paused) say("paused, " + held.length + " new line" + (held.length === 1 ? "" : "s") + " held");
    else say("live: " + shown + " new line" + (shown === 1 ? "" : "s"));
  }

  function start() {
    var q = toggle.getAttribute("data-query") || "";
    source = new EventSource("/api/v1/logs/tail?q=" + encodeURIComponent(q));
    source.addEventListener("log", function (m) {
      var entry;
      try { entry = JSON.parse(m.data); } catch (e) { return; }
      if (paused) {
        held.push(entry);
        if (held.length > MAX_ROWS) held.shift();
      } else {
        show(entry);
      }
      report();
    });
    source.addEventListener("lagged", function (m) {
      say("fell behind: " + m.data + " batches skipped");
    });
    source.onopen = report;
    source.onerror = function () {
      // EventSource reconnects by itself unless the server refused outright.
      say(source && source.readyState === EventSource.CLOSED ? "stopped: the server refused the stream" : "reconnecting…");
    };
    toggle.textContent = "Stop live";
    toggle.setAttribute("aria-pressed", "true");
    pause.hidden = false;
    say("connecting…");
  }

  function stop() {
    if (source) source.close();
    source = null;
    paused = false;
    held.forEach(show);
    held = [];
    toggle.textContent = "Live";
    toggle.setAttribute("aria-pressed", "false");
    pause.hidden = true;
    pause.textContent = "Pause";
    say(shown ? shown + " new lines shown; live stopped" : "");
  }

  toggle.addEventListener("click", function () {
    if (source) stop(); else start();
  });
  pause.addEventListener("click", function () {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      held.forEach(show);
      held = [];
    }
    report();
  });
})();
