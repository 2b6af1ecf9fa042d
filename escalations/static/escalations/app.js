// The CS workspace's only script. Everything works without it: it (1) counts the
// server-rendered clocks down (and their elapsed times up) every second and (2) previews the intake severity live.
(function () {
  "use strict";

  var ICONS = { running: "◷", warning: "⚠", breached: "✖" };
  var LABELS = { running: "on track", warning: "warning", breached: "breached" };

  // Same format as escalations_tags.duration_text: '4m 59s', '1h 05m', '2d 03h'.
  function duration(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (d) return d + "d " + pad(h) + "h";
    if (h) return h + "h " + pad(m) + "m";
    return m + "m " + pad(s % 60) + "s";
  }

  var loadedAt = Date.now();

  function tick() {
    var now = Date.now();
    var counters = document.querySelectorAll(".elapsed[data-elapsed]");
    for (var j = 0; j < counters.length; j++) {
      var base = parseInt(counters[j].getAttribute("data-elapsed"), 10);
      // Business hours: counted time stops when the calendar closes.
      var until = counters[j].getAttribute("data-elapsed-until");
      var upTo = until ? Math.min(now, Date.parse(until)) : now;
      counters[j].textContent = duration(base * 1000 + Math.max(0, upTo - loadedAt));
    }
    var cells = document.querySelectorAll(".clock[data-due]");
    for (var i = 0; i < cells.length; i++) {
      var el = cells[i];
      var due = Date.parse(el.getAttribute("data-due"));
      var warnAttr = el.getAttribute("data-warn");
      var warn = warnAttr ? Date.parse(warnAttr) : null;
      var state = el.getAttribute("data-state");
      // A clock the server already called breached stays breached (recorded once).
      if (state !== "breached") {
        state = now >= due ? "breached" : (warn !== null && now >= warn ? "warning" : "running");
      }
      var left = due - now;
      el.setAttribute("data-state", state);
      el.className = "clock clock--" + state;
      el.querySelector(".clock-icon").textContent = ICONS[state];
      el.querySelector(".clock-label").textContent = LABELS[state];
      var rem = el.querySelector(".clock-remaining");
      if (rem) rem.textContent = left < 0 ? "overdue " + duration(left) : duration(left) + " left";
    }
  }

  function previewSeverity(form) {
    var url = form.getAttribute("data-preview-url");
    var box = document.getElementById("severity-preview");
    if (!url || !box) return;
    var params = new URLSearchParams();
    ["arr_at_risk", "users_affected_pct"].forEach(function (name) {
      var v = form.elements[name] && form.elements[name].value;
      if (v) params.set(name, v);
    });
    ["data_risk", "legal_risk", "security_risk"].forEach(function (name) {
      if (form.elements[name] && form.elements[name].checked) params.set(name, "on");
    });
    fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        // textContent, never innerHTML: rule names are admin-entered text.
        box.textContent = data.severity
          ? "Triggers give " + data.explanation
          : data.explanation + " The case will be S3 unless you raise it.";
      })
      .catch(function () { /* the "Check severity" button still works */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector(".clock[data-due], .elapsed[data-elapsed]")) {
      tick();
      window.setInterval(tick, 1000);
    }
    var intake = document.getElementById("intake-form");
    if (intake) {
      var timer = null;
      intake.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { previewSeverity(intake); }, 250);
      });
      intake.addEventListener("change", function () { previewSeverity(intake); });
    }
  });
})();
