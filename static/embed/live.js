// The count, live, for the embedded widget and chart: the count's event stream (Server-Sent
// Events), falling back to polling the cacheable count JSON when streams are not available, fail,
// or the server says it holds all the streams it may ("busy").
// followCount(card, show, pollMs): show(doc) gets each count document ({"signature_count", ...});
// card.dataset.events and card.dataset.countUrl name the stream and the JSON.
window.followCount = function (card, show, pollMs) {
  "use strict";
  var polling = false;

  function poll() {
    fetch(card.dataset.countUrl, { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(show)
      .catch(function () {})
      .then(function () { setTimeout(poll, pollMs); });
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
    startPolling(pollMs);
  });
  source.onerror = function () {
    failures += 1;
    // CLOSED: refused outright (an error status on the way), and the browser will not retry.
    if (source.readyState === EventSource.CLOSED || failures >= 3) {
      source.close();
      startPolling(0);
    }
  };
};
