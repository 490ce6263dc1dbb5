// The chart follows the count (live.js): on every change this same page is fetched again and its
// chart swapped in, so the drawing is made by the server only.
(function () {
  "use strict";
  var card = document.querySelector(".card");
  var chart = document.getElementById("chart");
  if (!card || !chart || !window.fetch || !window.DOMParser || !window.followCount) return;
  var shown = parseInt(card.dataset.count, 10);
  var fetching = false;
  var again = false;

  // A cache (the browser's, a CDN's) may still hold the page from before the change for a second
  // or two: fetched again after a pause until the chart has caught up with the count.
  var tries = 0;
  function redraw() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(window.location.href, { credentials: "omit", cache: "no-cache" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("chart");
        var freshCard = doc.querySelector(".card");
        if (fresh) chart.replaceChildren.apply(chart, Array.prototype.slice.call(fresh.childNodes));
        var drawn = freshCard ? parseInt(freshCard.dataset.count, 10) : shown;
        if (drawn !== shown && tries < 5) { tries += 1; again = true; } else { tries = 0; }
      })
      .catch(function () {})
      .then(function () {
        fetching = false;
        if (again) { again = false; setTimeout(redraw, 2000); }
      });
  }

  function show(doc) {
    if (!doc || typeof doc.signature_count !== "number" || doc.signature_count === shown) return;
    shown = doc.signature_count;
    redraw();
  }

  window.followCount(card, show, 15000);
})();
