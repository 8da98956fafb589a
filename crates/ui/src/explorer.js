// Completion for the PromQL box of /metrics/explore: metric names (and functions) where
// a name is typed, label names inside {...}, label values after `label="`. Reads the
// Prometheus API with the page's session cookie. Without this script the page still
// works: the box has a datalist of metric names and the form submits as usual.
(function () {
  "use strict";
  var input = document.getElementById("promql");
  if (!input) return;
  input.removeAttribute("list");

  var FUNCTIONS = ["abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "count", "count_over_time",
    "count_values", "delta", "deriv", "floor", "group", "histogram_quantile", "holt_winters",
    "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
    "max", "max_over_time", "min", "min_over_time", "predict_linear", "quantile",
    "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt",
    "stddev", "stddev_over_time", "sum", "sum_over_time", "time", "timestamp", "topk",
    "vector", "without", "by", "on", "ignoring", "group_left", "group_right", "offset"];

  var cache = {};
  function fetchList(url) {
    if (!cache[url]) {
      cache[url] = fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { data: [] }; })
        .then(function (j) { return j.data || []; })
        .catch(function () { return []; });
    }
    return cache[url];
  }
  function matchParam(metric) {
    return metric ? "?match[]=" + encodeURIComponent(metric) : "";
  }

  var box = document.createElement("ul");
  box.className = "completions";
  box.setAttribute("role", "listbox");
  box.hidden = true;
  input.parentNode.appendChild(box);
  var items = [];
  var active = -1;
  var replaceFrom = 0;

  // What is being typed at the cursor, and what may complete it.
  function context() {
    var text = input.value.slice(0, input.selectionStart);
    var open = text.lastIndexOf("{");
    var inBraces = open > text.lastIndexOf("}");
    if (inBraces) {
      var before = text.slice(0, open);
      var m = before.match(/([a-zA-Z_:][\w:]*)\s*$/);
      var metric = m ? m[1] : "";
      var inside = text.slice(open + 1);
      var v = inside.match(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)$/);
      if (v) {
        return { kind: "value", label: v[1], metric: metric, prefix: v[3], from: text.length - v[3].length };
      }
      var n = inside.match(/(?:^|,)\s*([a-zA-Z_]\w*)?$/);
      if (n) {
        var p = n[1] || "";
        return { kind: "label", metric: metric, prefix: p, from: text.length - p.length };
      }
      return null;
    }
    // Inside by (...) / without (...) / on (...): label names.
    var grp = text.match(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)$/);
    if (grp) {
      var w = grp[2].match(/([a-zA-Z_]\w*)?$/)[1] || "";
      return { kind: "label", metric: "", prefix: w, from: text.length - w.length };
    }
    if (/\[[^\]]*$/.test(text)) return null;
    var word = text.match(/([a-zA-Z_:][\w:]*)$/);
    if (!word) return null;
    return { kind: "name", prefix: word[1], from: text.length - word[1].length };
  }

  function candidates(ctx) {
    if (ctx.kind === "name") {
      return fetchList("/api/v1/label/__name__/values").then(function (names) {
        return FUNCTIONS.concat(names);
      });
    }
    if (ctx.kind === "label") {
      return fetchList("/api/v1/labels" + matchParam(ctx.metric)).then(function (l) {
        return l.filter(function (x) { return x !== "__name__"; });
      });
    }
    return fetchList("/api/v1/label/" + encodeURIComponent(ctx.label) + "/values" + matchParam(ctx.metric));
  }

  function rank(list, prefix) {
    var p = prefix.toLowerCase();
    var starts = [], contains = [];
    for (var i = 0; i < list.length; i++) {
      var s = String(list[i]), l = s.toLowerCase();
      if (l === p) continue;
      if (l.indexOf(p) === 0) starts.push(s);
      else if (p && l.indexOf(p) > 0) contains.push(s);
      if (starts.length >= 40) break;
    }
    return starts.concat(contains).slice(0, 40);
  }

  function render() {
    box.innerHTML = "";
    items.forEach(function (s, i) {
      var li = document.createElement("li");
      li.textContent = s;
      li.setAttribute("role", "option");
      if (i === active) li.className = "active";
      li.addEventListener("mousedown", function (e) { e.preventDefault(); accept(i); });
      box.appendChild(li);
    });
    box.hidden = items.length === 0;
  }

  function accept(i) {
    var s = items[i];
    if (s === undefined) return;
    var pos = input.selectionStart;
    input.value = input.value.slice(0, replaceFrom) + s + input.value.slice(pos);
    var caret = replaceFrom + s.length;
    input.setSelectionRange(caret, caret);
    items = [];
    active = -1;
    render();
    input.focus();
  }

  var seq = 0;
  function update() {
    var ctx = context();
    var mine = ++seq;
    if (!ctx || (ctx.kind === "name" && ctx.prefix.length < 1)) {
      items = [];
      render();
      return;
    }
    candidates(ctx).then(function (list) {
      if (mine !== seq) return;
      replaceFrom = ctx.from;
      items = rank(list, ctx.prefix);
      active = items.length ? 0 : -1;
      render();
    });
  }

  input.addEventListener("input", update);
  input.addEventListener("click", update);
  input.addEventListener("blur", function () { items = []; render(); });
  input.addEventListener("keydown", function (e) {
    if (box.hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      var n = items.length;
      active = (active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
      render();
    } else if (e.key === "Tab" || (e.key === "Enter" && active >= 0 && items.length)) {
      e.preventDefault();
      accept(active < 0 ? 0 : active);
    } else if (e.key === "Escape") {
      items = [];
      render();
    }
  });
})();
