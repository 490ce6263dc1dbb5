// The verify page: verifies the petition's public log in this browser with static/verify.js, shows
// the progress and the counts, and checks a signer's receipt (from the link's fragment, #entry=N&nonce=...,
// or typed in). The email address typed here is used only in this page: nothing is sent anywhere.
(function () {
  "use strict";
  var page = document.getElementById("log-verify");
  if (!page || !window.PetitionLog) return;
  var $ = function (id) { return document.getElementById(id); };
  var interval = page.dataset.interval; // LOG_INTERVAL in the page's words, for the English messages
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
  // The reasons a removal entry gives (petitions/infra/tlog/entries), each with its message.
  var REASONS = ["withdrawn", "invalidated", "erased"];
  // ---- words and numbers in the page's language -----------------------------------------------
  // The page renders its messages, translated, into the JSON block #verify-strings: %(name)s marks
  // a value this script fills in; a plural message is one form per CLDR plural category of the
  // page's language, chosen here with Intl.PluralRules. Whatever the block lacks is said in English.
  var ENGLISH = {
    messages: {
      fetching: "Fetching the log's key…",
      checkpoint: "Checking the log's signed checkpoint…",
      entries: "Checking every entry of the log…",
      tree: "Checking the tree above the entries…",
      done: "Done: the log checks out.",
      signature_checked: "The checkpoint's signature by the site's key is valid.",
      signature_unchecked: "This browser cannot check Ed25519 signatures, so the checkpoint's signature was not " +
        "checked here: the command below checks it.",
      same_count: "This is the count the site shows.",
      other_count: "The site shows %(site)s now; the log counted %(count)s as of its latest checkpoint. The log " +
        "catches up within %(interval)s: check again in a moment.",
      by_country: "By country",
      country: "Country",
      by_group: "By supporter group",
      group: "Group's email domain",
      signatures: "Signatures",
      verify_again: "Verify again",
      try_again: "Try again",
      failed: "Verification failed: %(reason)s",
      failed_detail: "The log this site serves does not check out, or could not be downloaded. Try again; if it " +
        "fails again, the count on this site cannot be checked against its log.",
      type_nonce: "Type the nonce from your receipt.",
      no_entries_yet: "The public log has no entries yet: check again in %(interval)s.",
      type_email: "Type your email address: this page finds your entry from it and the nonce.",
      checking: "Checking your signature…",
      checking_later: "Checking your signature once the log is verified…",
      log_failed: "The log did not verify, so no receipt can be checked against it.",
      not_yet: "If you confirmed less than %(interval)s ago, the log may not have caught up yet: check again in a " +
        "moment. Otherwise check the address: it must be the one your confirmation email went to.",
      found: "Found your signature: entry %(entry)s.",
      included: "Entry %(entry)s is included in %(log)s: its inclusion proof (%(hashes)s, made from the log's " +
        "tiles) leads to the signed root.",
      matches: "It matches your email address and nonce: entry %(entry)s is your signature.",
      no_match: "It does not match: entry %(entry)s was not made from this email address and nonce. Check the " +
        "address (the one your confirmation email went to), the nonce and the entry number.",
      type_email_for: "Type your email address to check that entry %(entry)s is yours.",
      counts: "Entry %(entry)s counts.",
      removed: "Entry %(entry)s no longer counts: entry %(by)s removed it (%(reason)s).",
      reason_withdrawn: "its signer withdrew it",
      reason_invalidated: "the site's moderators invalidated it",
      reason_erased: "its signer's data was erased at their request",
      entry_not_number: "The entry number is not a whole number: it is the number in your receipt's email.",
      not_signature: "Entry %(entry)s is not a signature: it changes another entry. Check the entry number in " +
        "your receipt.",
      email_invalid: "That is not an email address: type the one your confirmation email went to.",
      domain_invalid: "The domain %(domain)s is not a valid domain.",
      nonce_invalid: "A nonce is 32 to 128 hex digits (0 to 9 and a to f), as in your receipt.",
      email_needed: "Without the entry number, your email address is needed to find your entry.",
    },
    plurals: {
      one: {
        log_size: "The log has %(num)s entry, and every one leads to its signed root %(root)s.",
        signed_log: "the signed log of %(num)s entry",
        hashes: "%(num)s hash",
        no_entry: "No entry of the log (%(num)s entry) holds the code made from this email address and nonce.",
        not_in_log: "Entry %(entry)s is not in the log yet: it has %(num)s entry.",
      },
      other: {
        log_size: "The log has %(num)s entries, and every one leads to its signed root %(root)s.",
        signed_log: "the signed log of %(num)s entries",
        hashes: "%(num)s hashes",
        no_entry: "No entry of the log (%(num)s entries) holds the code made from this email address and nonce.",
        not_in_log: "Entry %(entry)s is not in the log yet: it has %(num)s entries.",
      },
    },
  };
  var strings = ENGLISH;
  try {
    var block = $("verify-strings");
    if (block) strings = JSON.parse(block.textContent);
  } catch (e) {
    strings = ENGLISH;
  }
  var lang = document.documentElement.lang || "en";
  var numbers = null;
  var plurals = null;
  try {
    numbers = new Intl.NumberFormat(lang);
    plurals = new Intl.PluralRules(lang);
  } catch (e) { // a lang attribute Intl does not know, or a browser without Intl.PluralRules
    numbers = numbers || new Intl.NumberFormat("en");
  }

  // The CLDR category of `count` whose form to use: the page's language's, when the page gave its forms.
  function category(count) {
    if (strings === ENGLISH || !plurals) return count === 1 ? "one" : "other";
    return plurals.select(count);
  }

  function fill(text, values) {
    return text.replace(/%\(([A-Za-z_][A-Za-z0-9_]*)\)s/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  // Message `key` with its values filled in: the page's translation, or English.
  function t(key, values) {
    var text = (strings.messages || {})[key];
    return fill(typeof text === "string" ? text : ENGLISH.messages[key], Object.assign({ interval: interval }, values));
  }

  // Plural message `key` for `count` (given as %(num)s, formatted), in the form the page's language
  // uses for it; "other" when the page has no form for that category.
  function tn(key, count, values) {
    var forms = strings.plurals || {};
    var text = (forms[category(count)] || {})[key] || (forms.other || {})[key];
    if (typeof text !== "string") {
      // An English form, chosen by English's own rule (the page's categories are not English's).
      text = ENGLISH.plurals[count === 1 ? "one" : "other"][key];
    }
    return fill(text, Object.assign({ num: number(count) }, values));
  }

  function number(n) { return numbers.format(Number(n)); }

  // verify.js's errors that a signer's typing causes (error.code) are told in the page's language;
  // the others (a log that does not check out, a download that failed) keep its technical words,
  // which the command-line verifier prints too.
  function explain(error) {
    var p = error.params || {};
    switch (error.code) {
      case "entry-not-number": return t("entry_not_number");
      case "entry-not-in-log": return tn("not_in_log", p.size, { entry: p.entry });
      case "entry-not-signature": return t("not_signature", { entry: p.entry });
      case "email-invalid": return t("email_invalid");
      case "domain-invalid": return t("domain_invalid", { domain: p.domain });
      case "nonce-invalid": return t("nonce_invalid");
      case "email-needed": return t("email_needed");
      default: return error.message;
    }
  }

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
    var tbl = document.createElement("table");
    tbl.className = "table";
    tbl.createCaption().textContent = caption;
    var row = tbl.createTHead().insertRow();
    [heading, t("signatures")].forEach(function (label, i) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      if (i) th.className = "num";
      row.appendChild(th);
    });
    var body = tbl.createTBody();
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
    container.appendChild(tbl);
  }

  function onProgress(p) {
    if (p.stage === "checkpoint") {
      status.textContent = t("checkpoint");
    } else if (p.stage === "entries") {
      if (p.done === 1) status.textContent = t("entries");
      progress.max = p.total;
      progress.value = p.done;
    } else {
      status.textContent = t("tree");
    }
  }

  function showResult(result) {
    busy = false;
    verified = result;
    progress.max = 1;
    progress.value = 1;
    status.textContent = t("done");
    $("verified-count").textContent = number(result.count);
    $("verified-detail").textContent =
      tn("log_size", result.size, { root: result.root }) + " " +
      t(result.signatureChecked ? "signature_checked" : "signature_unchecked");
    $("verified-compare").textContent = result.count === siteCount
      ? t("same_count")
      : t("other_count", { site: number(siteCount), count: number(result.count) });
    table($("verified-countries"), t("by_country"), t("country"), result.byCountry, function (code) {
      return names[code] ? names[code] + " (" + code + ")" : code;
    });
    table($("verified-groups"), t("by_group"), t("group"), result.byGroup);
    resultBox.hidden = false;
    startButton.textContent = t("verify_again");
    startButton.disabled = false;
    return result;
  }

  function showFailure(error) {
    busy = false;
    progress.value = 0;
    status.textContent = "";
    failureBox.textContent = "";
    failureBox.appendChild(para(t("failed", { reason: error.message }), "error"));
    failureBox.appendChild(para(t("failed_detail")));
    failureBox.hidden = false;
    startButton.textContent = t("try_again");
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
    status.textContent = t("fetching");
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
      return [[tn("no_entry", r.size), t("not_yet")], "bad"];
    }
    var lines = [];
    if (r.found) lines.push(t("found", { entry: r.entry }));
    lines.push(t("included", {
      entry: r.entry, log: tn("signed_log", r.size), hashes: tn("hashes", r.proof.length),
    }));
    var kind = "good";
    if (r.matches === true) {
      lines.push(t("matches", { entry: r.entry }));
    } else if (r.matches === false) {
      kind = "bad";
      lines.push(t("no_match", { entry: r.entry }));
    } else if (!email) {
      lines.push(t("type_email_for", { entry: r.entry }));
    }
    var reason = REASONS.indexOf(r.reason) >= 0 ? t("reason_" + r.reason) : r.reason;
    lines.push(r.live
      ? t("counts", { entry: r.entry })
      : t("removed", { entry: r.entry, by: r.removedBy, reason: reason }));
    return [lines, kind];
  }

  function checkReceipt() {
    var receipt = { entry: field("receipt-entry"), nonce: field("receipt-nonce"), email: field("receipt-email") };
    if (!receipt.nonce) {
      receiptSays([t("type_nonce")], "bad");
      return Promise.resolve();
    }
    if (page.dataset.hasLog !== "true") {
      receiptSays([t("no_entries_yet")], "bad");
      return Promise.resolve();
    }
    if (!receipt.entry && !receipt.email) {
      receiptSays([t("type_email")]);
      return Promise.resolve();
    }
    receiptSays([t(verified ? "checking" : "checking_later")]);
    return (verified ? Promise.resolve(verified) : start())
      .then(function (result) { return PetitionLog.checkReceipt(result, receipt); })
      .then(function (r) {
        var said = describe(r, receipt.email);
        receiptSays(said[0], said[1]);
      }, function (error) {
        receiptSays([verified ? explain(error) : t("log_failed")], "bad");
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
