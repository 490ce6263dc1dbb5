// The verify page: verifies the petition's public log in this browser with static/verify.js, shows
// the progress and the counts, and checks a signer's receipt (from the link's fragment, #entry=N&nonce=...,
// or typed in). The email address typed here is used only in this page: nothing is sent anywhere.
(function () {
  "use strict";
  var page = document.getElementById("log-verify");
  if (!page || !window.PetitionLog) return;
  var $ = function (id) { return document.getElementById(id); };
  var interval = page.dataset.interval;
  var siteCount = Number(page.dataset.siteCount);
  var startButton = $("verify-start");
  var progress = $("verify-progress");
  var status = $("verify-status");
  var resultBox = $("verify-result");
  var failureBox = $("verify-failure");
  var receiptBox = $("receipt-result");
  var running = null; // the latest verification: a promise of verifyLog's result
  var busy = false;
  var verified = null;
  var REASONS = {
    withdrawn: "its signer withdrew it",
    invalidated: "the site's moderators invalidated it",
    erased: "its signer's data was erased at their request",
  };

  function number(n) { return Number(n).toLocaleString("en-US"); }

  function para(text, className) {
    var p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }

  // Country names by code, as the site's forms name them; the log itself holds only the codes.
  var names = {};
  try {
    names = JSON.parse(page.dataset.countryNames || "{}");
  } catch (e) {
    names = {};
  }

  function table(container, caption, heading, counts, label) {
    container.textContent = "";
    var keys = Object.keys(counts);
    if (!keys.length) return;
    var t = document.createElement("table");
    t.className = "table";
    t.createCaption().textContent = caption;
    var row = t.createTHead().insertRow();
    [heading, "Signatures"].forEach(function (label, i) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      if (i) th.className = "num";
      row.appendChild(th);
    });
    var body = t.createTBody();
    keys.forEach(function (k) {
      var r = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = label ? label(k) : k;
      r.appendChild(th);
      var td = r.insertCell();
      td.className = "num";
      td.textContent = number(counts[k]);
    });
    container.appendChild(t);
  }

  function onProgress(p) {
    if (p.stage === "checkpoint") {
      status.textContent = "Checking the log's signed checkpoint…";
    } else if (p.stage === "entries") {
      if (p.done === 1) status.textContent = "Checking every entry of the log…";
      progress.max = p.total;
      progress.value = p.done;
    } else {
      status.textContent = "Checking the tree above the entries…";
    }
  }

  function showResult(result) {
    busy = false;
    verified = result;
    progress.max = 1;
    progress.value = 1;
    status.textContent = "Done: the log checks out.";
    $("verified-count").textContent = number(result.count);
    $("verified-detail").textContent =
      "The log has " + number(result.size) + (result.size === 1 ? " entry" : " entries") +
      ", and every one leads to its signed root " + result.root + ". " +
      (result.signatureChecked
        ? "The checkpoint's signature by the site's key is valid."
        : "This browser cannot check Ed25519 signatures, so the checkpoint's signature was not checked here: the command below checks it.");
    $("verified-compare").textContent = result.count === siteCount
      ? "This is the count the site shows."
      : "The site shows " + number(siteCount) + " now; the log counted " + number(result.count) +
        " as of its latest checkpoint. The log catches up within " + interval + ": check again in a moment.";
    table($("verified-countries"), "By country", "Country", result.byCountry, function (code) {
      return names[code] ? names[code] + " (" + code + ")" : code;
    });
    table($("verified-groups"), "By supporter group", "Group's email domain", result.byGroup);
    resultBox.hidden = false;
    startButton.textContent = "Verify again";
    startButton.disabled = false;
    return result;
  }

  function showFailure(error) {
    busy = false;
    progress.value = 0;
    status.textContent = "";
    failureBox.textContent = "";
    failureBox.appendChild(para("Verification failed: " + error.message, "error"));
    failureBox.appendChild(para(
      "The log this site serves does not check out, or could not be downloaded. Try again; if it fails again, " +
      "the count on this site cannot be checked against its log."));
    failureBox.hidden = false;
    startButton.textContent = "Try again";
    startButton.disabled = false;
    throw error;
  }

  function start() {
    if (busy) return running;
    busy = true;
    verified = null;
    startButton.disabled = true;
    resultBox.hidden = true;
    failureBox.hidden = true;
    progress.max = 1;
    progress.value = 0;
    status.textContent = "Fetching the log's key…";
    running = PetitionLog.verifyLog(page.dataset.petitionUrl, null, onProgress).then(showResult, showFailure);
    return running;
  }

  // ---- the receipt ---------------------------------------------------------------------------

  function field(id) { return $(id).value.trim(); }

  function receiptSays(lines, className) {
    receiptBox.textContent = "";
    receiptBox.className = "receipt-result " + (className || "");
    lines.forEach(function (line) { receiptBox.appendChild(para(line)); });
  }

  function describe(r, email) {
    if (r.entry === null) {
      return [[
        "No entry of the log (" + number(r.size) + " entries) holds the code made from this email address and nonce.",
        "If you confirmed less than " + interval + " ago, the log may not have caught up yet: check again in a moment. " +
        "Otherwise check the address: it must be the one your confirmation email went to.",
      ], "bad"];
    }
    var lines = [];
    if (r.found) lines.push("Found your signature: entry " + r.entry + ".");
    lines.push("Entry " + r.entry + " is included in the signed log of " + number(r.size) + " entries: its inclusion proof (" +
      r.proof.length + " hashes, made from the log's tiles) leads to the signed root.");
    var kind = "good";
    if (r.matches === true) {
      lines.push("It matches your email address and nonce: entry " + r.entry + " is your signature.");
    } else if (r.matches === false) {
      kind = "bad";
      lines.push("It does not match: entry " + r.entry + " was not made from this email address and nonce. " +
        "Check the address (the one your confirmation email went to), the nonce and the entry number.");
    } else if (!email) {
      lines.push("Type your email address to check that entry " + r.entry + " is yours.");
    }
    lines.push(r.live
      ? "Entry " + r.entry + " counts."
      : "Entry " + r.entry + " no longer counts: entry " + r.removedBy + " removed it (" + (REASONS[r.reason] || r.reason) + ").");
    return [lines, kind];
  }

  function checkReceipt() {
    var receipt = { entry: field("receipt-entry"), nonce: field("receipt-nonce"), email: field("receipt-email") };
    if (!receipt.nonce) {
      receiptSays(["Type the nonce from your receipt."], "bad");
      return Promise.resolve();
    }
    if (page.dataset.hasLog !== "true") {
      receiptSays(["The public log has no entries yet: check again in " + interval + "."], "bad");
      return Promise.resolve();
    }
    if (!receipt.entry && !receipt.email) {
      receiptSays(["Type your email address: this page finds your entry from it and the nonce."]);
      return Promise.resolve();
    }
    receiptSays([verified ? "Checking your signature…" : "Checking your signature once the log is verified…"]);
    return (verified ? Promise.resolve(verified) : start())
      .then(function (result) { return PetitionLog.checkReceipt(result, receipt); })
      .then(function (r) {
        var said = describe(r, receipt.email);
        receiptSays(said[0], said[1]);
      }, function (error) {
        receiptSays([verified ? error.message : "The log did not verify, so no receipt can be checked against it."], "bad");
      });
  }

  var fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get("entry")) $("receipt-entry").value = fragment.get("entry");
  if (fragment.get("nonce")) $("receipt-nonce").value = fragment.get("nonce");

  $("receipt-check").addEventListener("click", checkReceipt);
  ["receipt-entry", "receipt-nonce", "receipt-email"].forEach(function (id) {
    $(id).addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        checkReceipt();
      }
    });
  });
  startButton.addEventListener("click", function () {
    start().catch(function () {});
  });

  if (page.dataset.hasLog === "true" && page.dataset.autostart === "true") {
    start().then(function () {
      if (fragment.get("nonce")) checkReceipt();
    }, function () {});
  }
})();
