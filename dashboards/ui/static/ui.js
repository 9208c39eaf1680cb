// crumbless dashboard: small progressive enhancements; every page works without it.
// - range and comparison selects submit on change (the state lives in the URL);
// - the custom range's date inputs appear when "Custom range" is picked;
// - realtime counts refresh every 30 s from realtime.json (same origin, no cookies sent
//   anywhere else); retention jobs refresh their progress.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function rangeControls() {
    var form = document.getElementById("range-form");
    if (!form) return;
    var period = document.getElementById("period");
    var custom = document.getElementById("custom-range");
    form.querySelectorAll("[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select === period && period.value === "custom") {
          custom.hidden = false;
          document.getElementById("from").focus();
          return;
        }
        form.submit();
      });
    });
    if (custom && period.value !== "custom") {
      custom.querySelectorAll("input").forEach(function (input) { input.disabled = true; });
      period.addEventListener("change", function () {
        custom.querySelectorAll("input").forEach(function (input) { input.disabled = false; });
      });
    }
  }

  function realtime() {
    var root = document.querySelector("[data-realtime-url]");
    if (!root) return;
    var url = root.getAttribute("data-realtime-url");
    var visitors = document.getElementById("rt-visitors");
    var views = document.getElementById("rt-views");
    function refresh() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          // null: fewer than k visitors so far this hour, withheld like any small number
          var few = "fewer than " + String(data.k);
          visitors.textContent = data.visitors === null ? few : String(data.visitors);
          views.textContent = data.pageviews === null ? "–" : String(data.pageviews);
        })
        .catch(function () { /* offline: keep the last numbers */ });
    }
    refresh();
    setInterval(refresh, 30000);
  }

  function jobProgress() {
    var job = document.querySelector("[data-job-url]");
    if (!job) return;
    var url = job.getAttribute("data-job-url");
    var log = document.getElementById("job-log");
    var state = document.getElementById("job-state");
    function poll() {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          log.textContent = data.progress.join("\n");
          state.textContent = data.state;
          if (data.state === "running") setTimeout(poll, 1000);
        });
    }
    poll();
  }

  function copyFields() {
    document.querySelectorAll("input.copy").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  onReady(function () {
    rangeControls();
    realtime();
    jobProgress();
    copyFields();
  });
})();
