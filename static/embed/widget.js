// Live count for the embedded widget: Server-Sent Events, falling back to polling the count JSON.
(function () {
  "use strict";
  var card = document.querySelector(".card");
  if (!card) return;
  // The page's language's grouping symbol, as the server wrote the first count (Babel's).
  var sep = card.dataset.group || ",";
  var countEl = document.getElementById("count");
  var bar = document.getElementById("bar");
  var fill = document.getElementById("fill");
  var goal = parseInt(bar.dataset.goal, 10) || 1;
  var shown = null;

  function grouped(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, sep); }

  function show(doc) {
    if (!doc || typeof doc.signature_count !== "number" || doc.signature_count === shown) return;
    shown = doc.signature_count;
    countEl.textContent = grouped(shown);
    bar.setAttribute("aria-valuenow", String(shown));
    var pct = Math.min(100, Math.floor((shown * 100) / goal / 5) * 5);
    fill.className = "fill w" + pct;
  }

  var POLL_MS = 10000;
  var polling = false;

  function poll() {
    fetch(card.dataset.countUrl, { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(show)
      .catch(function () {})
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  // Once, whatever sent us here: the cached count endpoint from now on.
  function startPolling(delay) {
    if (polling) return;
    polling = true;
    setTimeout(poll, delay);
  }

  if (!window.EventSource) { startPolling(0); return; }
  var failures = 0;
  var source = new EventSource(card.dataset.events);
  source.addEventListener("count", function (e) {
    failures = 0;
    try { show(JSON.parse(e.data)); } catch (err) { /* ignore a bad event */ }
  });
  // The server holds all the streams it may: it sent the count, and we poll rather than reconnect.
  source.addEventListener("busy", function () {
    source.close();
    startPolling(POLL_MS);
  });
  source.onerror = function () {
    failures += 1;
    // CLOSED: refused outright (an error status on the way), and the browser will not retry.
    if (source.readyState === EventSource.CLOSED || failures >= 3) {
      source.close();
      startPolling(0);
    }
  };
})();
