// The embedded widget's count, kept live by live.js.
(function () {
  "use strict";
  var card = document.querySelector(".card");
  if (!card || !window.followCount) return;
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

  window.followCount(card, show, 10000);
})();
