// Progressive enhancement of the review pages: a ticking freshness line and live rows from the
// deletion-risk event stream. Without this script every page is complete (server-rendered).
(function () {
  "use strict";
  var FLAG_TEXT = {
    zero_usage_day: "no use today", zero_usage_month: "no use this month", zero_usage_total: "never used",
    no_active_workers: "no workers", has_multiple_hosts: "several hosts",
    has_non_preferred_host: "non-preferred host", has_unknown_host: "unknown host",
    no_download_urls: "no download", missing_description: "no description",
    missing_baseline: "no baseline", low_usage: "low usage"
  };

  function age(seconds) {
    if (seconds < 90) return Math.max(0, Math.round(seconds)) + " s ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " days ago";
  }

  function tick(line) {
    var at = Number(line.dataset.hordeAt), limit = Number(line.dataset.staleAfter);
    if (!at) return;
    var seconds = Date.now() / 1000 - at;
    line.querySelector(".age").textContent = age(seconds);
    var stale = line.dataset.stale === "true" || seconds > limit;
    line.classList.toggle("stale", stale);
    var state = line.querySelector(".state");
    if (state && state.textContent !== (stale ? "stale" : "fresh")) {
      var replacement = document.createElement(stale ? "strong" : "span");
      replacement.className = "state";
      replacement.textContent = stale ? "stale" : "fresh";
      state.replaceWith(replacement);
    }
  }

  function badge(text, kind) {
    var span = document.createElement("span");
    span.className = "badge " + kind;
    span.textContent = text;
    return span;
  }

  function verdict(state) {
    if (state.is_critical) return badge("critical", "critical");
    if (state.at_risk) return badge("at risk", "risk");
    if (state.has_warning) return badge("warning", "warn");
    return badge("ok", "ok");
  }

  function setNumber(cell, value) {
    var v = cell && cell.querySelector(".v");
    if (v) v.textContent = Number(value).toLocaleString("en-US");
  }

  function update(row, state) {
    // Same cells, same fixed height: only their text changes (no layout jump).
    var cell = row.querySelector(".c-verdict");
    cell.replaceChildren(verdict(state));
    var flags = row.querySelector(".c-flags"), score = document.createElement("span");
    score.className = "score";
    score.textContent = String(state.risk_score);
    var parts = [score];
    Object.keys(state.deletion_risk_flags).forEach(function (name) {
      if (state.deletion_risk_flags[name]) parts.push(badge(FLAG_TEXT[name] || name, "flag"));
    });
    if (parts.length === 1) {
      var none = document.createElement("span");
      none.className = "none";
      none.textContent = "none";
      parts.push(none);
    }
    flags.replaceChildren.apply(flags, parts);
    if (state.lifecycle) row.querySelector(".c-days").textContent = String(state.lifecycle.days_at_risk || 0);
    setNumber(row.querySelector(".c-workers"), state.worker_count);
    setNumber(row.querySelector(".c-usage"), state.usage_month);
    row.classList.remove("updated");
    void row.offsetWidth; // restart the highlight
    row.classList.add("updated");
  }

  function listen(main, line) {
    var rows = {};
    document.querySelectorAll("tr[data-model]").forEach(function (row) { rows[row.dataset.model] = row; });
    var live = document.getElementById("live");
    var source = new EventSource(main.dataset.events);
    source.addEventListener("deletion-risk-changed", function (message) {
      var event = JSON.parse(message.data);
      if (line && event.basis && event.basis.horde_status_at_ms) {
        line.dataset.hordeAt = String(Math.round(event.basis.horde_status_at_ms / 1000));
        line.dataset.stale = "false";
        tick(line);
      }
      var row = rows[event.model];
      if (row && event.current) update(row, event.current);
      if (row && !event.current) {  // left the reference: say so in the row, keep its place
        row.querySelector(".c-verdict").replaceChildren(badge("removed", "critical"));
        row.classList.add("updated");
      }
      live.textContent = event.model + ": " + (event.changes || []).join(", ").replace(/_/g, " ") +
        (row ? " (row updated)" : "");
      document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
    });
    source.onopen = function () { document.body.dataset.live = "open"; };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var line = document.getElementById("freshness"), main = document.getElementById("main");
    var lines = document.querySelectorAll(".freshness");
    var tickAll = function () { lines.forEach(tick); };
    tickAll();
    setInterval(tickAll, 1000);
    if (main && main.dataset.events && window.EventSource) listen(main, line);
  });
})();
