// Checks a petition's public log in the visitor's browser, as `python -m petitions.verify` does:
// the checkpoint's Ed25519 signature (where the browser's WebCrypto has Ed25519), every entry and
// tile rehashed with WebCrypto's SHA-256 against the signed root, and the counts replayed.
// Plain ES2017, no libraries. A page calls
//   PetitionLog.verifyLog(petitionUrl, verifierKey, onProgress)  (also the global verifyLog)
// which resolves to {size, root, count, byCountry, byGroup, signatureChecked, origin} or rejects
// with an Error whose message says what does not check out. onProgress({stage, done, total}).
// A signer's receipt is then checked against that verified log:
//   PetitionLog.checkEntry(result, index)  the entry's inclusion proof, made from the tiles and
//                                          checked against the signed root; is it an add, does it count
//   PetitionLog.checkReceipt(result, {entry, nonce, email})  the same, and whether the commitment
//                                          recomputed from the address and nonce matches (without an
//                                          entry, the log is searched for it); the address never
//                                          leaves the browser
(function (root) {
  "use strict";

  var TILE_HEIGHT = 8;
  var TILE_WIDTH = 256;
  var HASH_SIZE = 32;
  var EM_DASH = "\u2014";
  var subtle = root.crypto && root.crypto.subtle;
  var encoder = new TextEncoder();
  var verified = new WeakMap(); // verifyLog's result -> what the receipt checks need

  // A VerifyError; `code` (with `params`) names the errors a signer's typing causes, so that a page
  // can say them in its own language (static/js/verify-page.js).
  function fail(message, code, params) {
    var error = new Error(message);
    error.name = "VerifyError";
    if (code) {
      error.code = code;
      error.params = params || {};
    }
    throw error;
  }

  // ---- bytes ----------------------------------------------------------------------------------

  function concat(parts) {
    var length = 0;
    parts.forEach(function (p) { length += p.length; });
    var out = new Uint8Array(length);
    var offset = 0;
    parts.forEach(function (p) { out.set(p, offset); offset += p.length; });
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    var diff = 0;
    for (var i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  function fromBase64(text, what) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) fail(what + " is not valid base64");
    var raw = atob(text);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function toBase64(bytes) {
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw);
  }

  // ---- RFC 6962 hashes ------------------------------------------------------------------------

  function sha256(data) {
    return subtle.digest("SHA-256", data).then(function (d) { return new Uint8Array(d); });
  }

  function leafHash(entry) {
    return sha256(concat([new Uint8Array([0]), entry]));
  }

  function nodeHash(left, right) {
    return sha256(concat([new Uint8Array([1]), left, right]));
  }

  // The root of a run of equal-height hashes: pair left to right, carry an odd last one up.
  async function rootOf(hashes) {
    if (!hashes.length) return sha256(new Uint8Array(0));
    var level = hashes;
    while (level.length > 1) {
      var pairs = [];
      for (var i = 0; i + 1 < level.length; i += 2) pairs.push(nodeHash(level[i], level[i + 1]));
      var next = await Promise.all(pairs);
      if (level.length % 2) next.push(level[level.length - 1]);
      level = next;
    }
    return level[0];
  }

  function split(n) {
    var k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  }

  // ---- tiles ----------------------------------------------------------------------------------

  function encodeIndex(n) {
    var digits = String(n);
    while (digits.length % 3) digits = "0" + digits;
    var groups = digits.match(/.../g);
    return groups.map(function (g, i) { return i < groups.length - 1 ? "x" + g : g; }).join("/");
  }

  function tilePath(level, index, width) {
    var head = level < 0 ? "entries" : String(level);
    return "tile/" + head + "/" + encodeIndex(index) + (width === TILE_WIDTH ? "" : ".p/" + width);
  }

  // The tiles of one level of a tree of `size` leaves (level -1: the entry bundles).
  function levelTiles(level, size) {
    var count = Math.floor(size / Math.pow(TILE_WIDTH, Math.max(level, 0)));
    var out = [];
    for (var n = 0; n < Math.floor(count / TILE_WIDTH); n++) out.push({ level: level, index: n, width: TILE_WIDTH });
    if (count % TILE_WIDTH) out.push({ level: level, index: Math.floor(count / TILE_WIDTH), width: count % TILE_WIDTH });
    return out;
  }

  function decodeBundle(data, path) {
    var out = [];
    var pos = 0;
    while (pos < data.length) {
      if (pos + 2 > data.length) fail(path + ": the bundle ends inside an entry's length");
      var length = (data[pos] << 8) | data[pos + 1];
      pos += 2;
      if (pos + length > data.length) fail(path + ": entry " + out.length + " of the bundle runs past its end");
      out.push(data.subarray(pos, pos + length));
      pos += length;
    }
    return out;
  }

  function splitTile(data) {
    var out = [];
    for (var i = 0; i < data.length; i += HASH_SIZE) out.push(data.subarray(i, i + HASH_SIZE));
    return out;
  }

  // ---- fetching -------------------------------------------------------------------------------

  function NotFound(message) { this.message = message; }

  async function fetchBytes(url) {
    var response;
    try {
      response = await fetch(url, { credentials: "omit", cache: "no-cache" });
    } catch (e) {
      fail(url + " cannot be fetched (" + e.message + ")");
    }
    if (response.status === 404) throw new NotFound(url + " is missing (HTTP 404)");
    if (!response.ok) fail(url + ": HTTP " + response.status);
    return new Uint8Array(await response.arrayBuffer());
  }

  // A partial tile that is gone is cut from the full tile that replaced it, as tlog-tiles allows.
  async function fetchTile(prefix, tile) {
    try {
      return await fetchBytes(prefix + tilePath(tile.level, tile.index, tile.width));
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
      if (tile.width === TILE_WIDTH) fail(e.message);
    }
    var full = await fetchBytes(prefix + tilePath(tile.level, tile.index, TILE_WIDTH)).catch(function (e) {
      if (e instanceof NotFound) fail(e.message);
      throw e;
    });
    if (tile.level >= 0) return full.subarray(0, tile.width * HASH_SIZE);
    var entries = decodeBundle(full, tilePath(tile.level, tile.index, TILE_WIDTH)).slice(0, tile.width);
    return concat(entries.map(function (e) { return concat([new Uint8Array([e.length >> 8, e.length & 255]), e]); }));
  }

  // ---- keys, notes, checkpoints ---------------------------------------------------------------

  async function parseVerifierKey(text) {
    var parts = String(text).trim().split("+");
    if (parts.length < 3) fail("the verifier key is not name+id+key");
    var name = parts[0];
    var id = parts[1];
    var raw = fromBase64(parts.slice(2).join("+"), "the verifier key");
    if (!name || /\s/.test(name) || !/^[0-9a-f]{8}$/.test(id)) fail("the verifier key is malformed");
    if (raw.length !== 33 || raw[0] !== 1) fail("the verifier key is not an Ed25519 key");
    var digest = await sha256(concat([encoder.encode(name + "\n"), raw]));
    if (hex(digest.subarray(0, 4)) !== id) fail("the verifier key's id does not match its name and key");
    return { name: name, id: id, publicKey: raw.subarray(1) };
  }

  // Ed25519 in WebCrypto: true or false, or null where this browser does not have it.
  async function ed25519Verify(publicKey, signature, message) {
    var key;
    try {
      key = await subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return null;
    }
    return subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  async function openCheckpoint(noteBytes, key, origin) {
    var note;
    try {
      note = new TextDecoder("utf-8", { fatal: true }).decode(noteBytes);
    } catch (e) {
      fail("checkpoint: not valid UTF-8");
    }
    if (/[\u0000-\u0009\u000b-\u001f]/.test(note) || note.slice(-1) !== "\n") fail("checkpoint: malformed note");
    var at = note.lastIndexOf("\n\n");
    if (at < 0) fail("checkpoint: the note has no blank line before its signatures");
    var text = note.slice(0, at + 1);
    var checked = null;
    var found = false;
    var lines = note.slice(at + 2, -1).split("\n");
    for (var i = 0; i < lines.length; i++) {
      var m = /^\u2014 (\S+) (\S+)$/.exec(lines[i]);
      if (!m) fail("checkpoint: malformed signature line");
      var raw = fromBase64(m[2], "checkpoint: a signature");
      if (m[1] !== key.name || raw.length < 5 || hex(raw.subarray(0, 4)) !== key.id) continue;
      found = true;
      var ok = await ed25519Verify(key.publicKey, raw.subarray(4), encoder.encode(text));
      if (ok === false) fail("checkpoint: the signature by " + key.name + " does not verify: the note was altered");
      checked = ok;
    }
    if (!found) fail("checkpoint: the note is not signed by the expected key (" + key.name + "+" + key.id + ")");
    var parts = text.slice(0, -1).split("\n");
    if (parts.length < 3 || parts.some(function (l) { return !l; })) fail("checkpoint: not a checkpoint");
    if (parts[0] !== origin) fail("checkpoint: the checkpoint is for the log '" + parts[0] + "', not '" + origin + "'");
    if (!/^(0|[1-9][0-9]{0,15})$/.test(parts[1])) fail("checkpoint: the tree size is not a decimal number");
    var rootHash = fromBase64(parts[2], "checkpoint: the root hash");
    if (rootHash.length !== HASH_SIZE) fail("checkpoint: the root hash is not 32 bytes");
    return { origin: parts[0], size: Number(parts[1]), root: rootHash, signatureChecked: checked === true };
  }

  // ---- entries and their replay ---------------------------------------------------------------

  function Tally() {
    this.size = 0;
    this.count = 0;
    this.byCountry = {};
    this.byGroup = {};
    this.states = []; // per entry: 0 not an add, 1 live, 2 removed
    this.adds = {};
    this.removedBy = {};
    this.reasons = {};
    // Per entry: the first 28 bits of an add's commitment (-1 for other ops), so a signer's
    // commitment is found without keeping a million 64-digit strings; candidates are re-read.
    this.prefixes = [];
  }

  Tally.prototype.move = function (add, step) {
    this.count += step;
    this.byCountry[add.country] = (this.byCountry[add.country] || 0) + step;
    if (add.domain !== undefined) this.byGroup[add.domain] = (this.byGroup[add.domain] || 0) + step;
  };

  Tally.prototype.apply = function (data) {
    var index = this.size;
    var e;
    function bad(why) { fail("entry " + index + " is malformed: " + why); }
    try {
      e = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
    } catch (err) {
      bad("not a UTF-8 JSON object");
    }
    if (e === null || typeof e !== "object" || Array.isArray(e)) bad("not a JSON object");
    if (e.op === "add") {
      if (typeof e.commitment !== "string" || !/^[0-9a-f]{64}$/.test(e.commitment)) bad('"commitment" is not 64 lower-case hex digits');
      if (typeof e.country !== "string" || !/^[A-Z]{2}$/.test(e.country)) bad('"country" is not a two-letter country code');
      if (e.domain !== undefined && e.domain !== null && (typeof e.domain !== "string" || !e.domain || Array.from(e.domain).length > 253)) bad('"domain" is not a domain');
      var add = { commitment: e.commitment, country: e.country, domain: e.domain === null ? undefined : e.domain };
      this.adds[index] = add;
      this.states.push(1);
      this.prefixes.push(parseInt(e.commitment.slice(0, 7), 16));
      this.move(add, 1);
    } else if (e.op === "remove" || e.op === "restore" || e.op === "group") {
      if (typeof e.entry !== "number" || !Number.isInteger(e.entry) || e.entry < 0) bad('"entry" is not an entry index');
      if (e.op === "remove" && (typeof e.reason !== "string" || !e.reason)) bad('"reason" is missing');
      if (e.op === "group" && (typeof e.domain !== "string" || !e.domain || Array.from(e.domain).length > 253)) bad('"domain" is not a domain');
      var target = e.entry;
      var label = "entry " + index + " (" + e.op + ") names entry " + target;
      if (target >= index) fail(label + ", which does not come before it");
      if (this.states[target] === 0) fail(label + ", which is not an add");
      if (e.op === "group") {
        // The add counts toward this group from now on (it was sequenced before the group was shown).
        var grouped = this.adds[target];
        if (this.states[target] === 1) {
          if (grouped.domain !== undefined) this.byGroup[grouped.domain] -= 1;
          this.byGroup[e.domain] = (this.byGroup[e.domain] || 0) + 1;
        }
        grouped.domain = e.domain;
      } else if (e.op === "remove") {
        if (this.states[target] !== 1) fail("entry " + index + " removes entry " + target + ", which is already removed");
        this.states[target] = 2;
        this.removedBy[target] = index;
        this.reasons[target] = e.reason;
        this.move(this.adds[target], -1);
      } else {
        if (this.states[target] !== 2) fail("entry " + index + " restores entry " + target + ", which is live");
        this.states[target] = 1;
        delete this.removedBy[target];
        delete this.reasons[target];
        this.move(this.adds[target], 1);
      }
      this.states.push(0);
      this.prefixes.push(-1);
    } else {
      bad("unknown op " + JSON.stringify(e.op === undefined ? null : e.op));
    }
    this.size++;
  };

  function sorted(counts) {
    var out = {};
    Object.keys(counts).sort().forEach(function (k) { if (counts[k]) out[k] = counts[k]; });
    return out;
  }

  // ---- the whole check ------------------------------------------------------------------------

  function locate(petitionUrl) {
    var url = new URL(petitionUrl, root.location ? root.location.href : undefined);
    var m = /^(.*)\/petitions\/([^/]+)\/?$/.exec(url.pathname);
    if (!m || (url.protocol !== "https:" && url.protocol !== "http:")) fail(petitionUrl + " is not a petition's address");
    var base = url.origin + m[1];
    return {
      base: base,
      slug: m[2],
      prefix: base + "/petitions/" + m[2] + "/log/",
      origin: url.host.toLowerCase() + "/petitions/" + m[2],
    };
  }

  // Fetches run a window at a time, in parallel, while the hashing waits.
  async function fetchWindow(prefix, wanted) {
    return Promise.all(wanted.map(function (t) { return fetchTile(prefix, t); }));
  }

  async function verifyLog(petitionUrl, verifierKey, onProgress) {
    if (!subtle) fail("this browser has no WebCrypto here (it needs a secure https page)");
    var progress = onProgress || function () {};
    var site = locate(petitionUrl);
    if (!verifierKey) verifierKey = new TextDecoder().decode(await fetchBytes(site.base + "/log/key"));
    var key = await parseVerifierKey(verifierKey);
    progress({ stage: "checkpoint", done: 0, total: 1 });
    var checkpoint = await openCheckpoint(await fetchBytes(site.prefix + "checkpoint"), key, site.origin);
    var size = checkpoint.size;
    var tally = new Tally();
    var tiles = {}; // "level/index" -> hashes of that tile at this tree size
    var bundles = levelTiles(-1, size);
    var upper = [];
    var WINDOW = 16;
    for (var start = 0; start < bundles.length; start += WINDOW) {
      var chunk = bundles.slice(start, start + WINDOW);
      var wanted = [];
      chunk.forEach(function (b) { wanted.push(b, { level: 0, index: b.index, width: b.width }); });
      var got = await fetchWindow(site.prefix, wanted);
      for (var c = 0; c < chunk.length; c++) {
        var bundle = chunk[c];
        var bundlePath = tilePath(-1, bundle.index, bundle.width);
        var items = decodeBundle(got[2 * c], bundlePath);
        if (items.length !== bundle.width) fail(bundlePath + " holds " + items.length + " entries, expected " + bundle.width);
        var leaves = await Promise.all(items.map(leafHash));
        if (!equal(concat(leaves), got[2 * c + 1])) {
          fail(tilePath(0, bundle.index, bundle.width) + " does not match the hashes of the entries in " + bundlePath);
        }
        items.forEach(function (item) { tally.apply(item); });
        tiles["0/" + bundle.index] = leaves;
        if (bundle.width === TILE_WIDTH) upper.push(await rootOf(leaves));
        progress({ stage: "entries", done: start + c + 1, total: bundles.length });
      }
    }
    for (var level = 1; Math.floor(size / Math.pow(TILE_WIDTH, level)) > 0; level++) {
      var computed = upper;
      upper = [];
      var wantedLevel = levelTiles(level, size);
      var data = await fetchWindow(site.prefix, wantedLevel);
      for (var t = 0; t < wantedLevel.length; t++) {
        var tile = wantedLevel[t];
        var expected = computed.slice(tile.index * TILE_WIDTH, tile.index * TILE_WIDTH + tile.width);
        if (!equal(concat(expected), data[t])) fail(tilePath(level, tile.index, tile.width) + " does not match the tiles below it");
        tiles[level + "/" + tile.index] = expected;
        if (tile.width === TILE_WIDTH) upper.push(await rootOf(expected));
      }
      progress({ stage: "level " + level, done: wantedLevel.length, total: wantedLevel.length });
    }
    var rootHash = await treeHash(size, tiles);
    if (!equal(rootHash, checkpoint.root)) {
      fail("root mismatch: the entries hash to " + toBase64(rootHash) + ", the signed checkpoint says " + toBase64(checkpoint.root));
    }
    var result = {
      origin: checkpoint.origin,
      size: size,
      root: toBase64(checkpoint.root),
      count: tally.count,
      byCountry: sorted(tally.byCountry),
      byGroup: sorted(tally.byGroup),
      signatureChecked: checkpoint.signatureChecked,
      signature: checkpoint.signatureChecked ? "valid" : "signature not checked in this browser",
    };
    // Kept beside the result, not in it: the receipt checks need the tiles and the replay.
    verified.set(result, { site: site, size: size, root: checkpoint.root, tiles: tiles, tally: tally });
    return result;
  }

  // The hash of the complete subtree at (level, index), from the tiles.
  function hashAt(tiles, level, index) {
    var tileLevel = Math.floor(level / TILE_HEIGHT);
    var within = level % TILE_HEIGHT;
    var first = index * Math.pow(2, within);
    var hashes = tiles[tileLevel + "/" + Math.floor(first / TILE_WIDTH)];
    var from = first % TILE_WIDTH;
    return rootOf(hashes.slice(from, from + Math.pow(2, within)));
  }

  async function subtreeHash(tiles, lo, hi) {
    var n = hi - lo;
    if ((n & (n - 1)) === 0 && n <= 0x40000000) {
      var level = Math.round(Math.log2(n));
      return hashAt(tiles, level, lo / n);
    }
    var k = split(n);
    return nodeHash(await subtreeHash(tiles, lo, lo + k), await subtreeHash(tiles, lo + k, hi));
  }

  function treeHash(size, tiles) {
    return size === 0 ? sha256(new Uint8Array(0)) : subtreeHash(tiles, 0, size);
  }

  // ---- receipts ------------------------------------------------------------------------------

  // RFC 9162 2.1.3.1: the audit path of leaf `index` in the tree [lo, hi), from the tiles.
  async function inclusionPath(tiles, index, lo, hi) {
    if (hi - lo === 1) return [];
    var k = split(hi - lo);
    if (index < lo + k) {
      return (await inclusionPath(tiles, index, lo, lo + k)).concat([await subtreeHash(tiles, lo + k, hi)]);
    }
    return (await inclusionPath(tiles, index, lo + k, hi)).concat([await subtreeHash(tiles, lo, lo + k)]);
  }

  // RFC 9162 2.1.3.2: does the path lead from this leaf hash to the root?
  async function verifyInclusion(index, size, leaf, path, rootHash) {
    if (index >= size) return false;
    var fn = index;
    var sn = size - 1;
    var r = leaf;
    for (var i = 0; i < path.length; i++) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(path[i], r);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await nodeHash(r, path[i]);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, rootHash);
  }

  function stateOf(result) {
    var log = verified.get(result);
    if (!log) fail("verify the log first: a receipt is checked against a verified log");
    return log;
  }

  // Entry `index` as the verified tree holds it, re-read from its bundle.
  async function readEntry(log, index) {
    var bundleIndex = Math.floor(index / TILE_WIDTH);
    var width = Math.min(TILE_WIDTH, log.size - bundleIndex * TILE_WIDTH);
    var path = tilePath(-1, bundleIndex, width);
    var items = decodeBundle(await fetchTile(log.site.prefix, { level: -1, index: bundleIndex, width: width }), path);
    if (items.length !== width) fail(path + " holds " + items.length + " entries, expected " + width);
    return items[index % TILE_WIDTH];
  }

  // Entry `index` of the verified log: its inclusion proof (made from the tiles, checked against the
  // signed root), whether it is a signature's add, and whether it still counts or was removed, and why.
  async function checkEntry(result, index) {
    var log = stateOf(result);
    index = Number(index);
    if (!Number.isInteger(index) || index < 0) fail("receipt: the entry number is not a whole number", "entry-not-number");
    if (index >= log.size) {
      fail("receipt: entry " + index + " is not in the log yet (it has " + log.size + " entries)", "entry-not-in-log", {
        entry: index, size: log.size,
      });
    }
    var data = await readEntry(log, index);
    var leaf = await leafHash(data);
    var path = await inclusionPath(log.tiles, index, 0, log.size);
    if (!(await verifyInclusion(index, log.size, leaf, path, log.root))) {
      fail("receipt: entry " + index + " is not included in the signed log: its inclusion proof does not lead to the signed root");
    }
    var add = log.tally.adds[index];
    if (!add) fail("receipt: entry " + index + " is not a signature: it changes another entry", "entry-not-signature", { entry: index });
    var live = log.tally.states[index] === 1;
    return {
      entry: index,
      size: log.size,
      included: true,
      proof: path.map(toBase64),
      commitment: add.commitment,
      country: add.country,
      domain: add.domain === undefined ? null : add.domain,
      live: live,
      removedBy: live ? null : log.tally.removedBy[index],
      reason: live ? null : log.tally.reasons[index],
    };
  }

  // The address as the commitment binds it (petitions/infra/tlog/entries.commitment_address):
  // trimmed, NFC, lower-case, the domain in IDNA ASCII form. The site's IDNA is IDNA 2003, which maps
  // ß to ss, ς to σ and drops joiners, where a URL's host keeps them: both spellings are returned
  // (once when they agree), and a commitment made from either is the same address's.
  function commitmentAddresses(address) {
    var a = String(address).trim().normalize("NFC").toLowerCase();
    var at = a.lastIndexOf("@");
    if (at <= 0 || at === a.length - 1) fail("that is not an email address", "email-invalid");
    var local = a.slice(0, at);
    var domain = a.slice(at + 1);
    if (/^[\x00-\x7f]*$/.test(domain)) return [local + "@" + domain];
    var out = [];
    [domain.replace(/\u00df/g, "ss").replace(/\u03c2/g, "\u03c3").replace(/[\u200c\u200d]/g, ""), domain].forEach(function (d) {
      var host;
      try {
        host = new URL("http://" + d).hostname;
      } catch (e) {
        return;
      }
      if (host && out.indexOf(local + "@" + host) < 0) out.push(local + "@" + host);
    });
    if (!out.length) fail("the domain " + domain + " is not a valid domain", "domain-invalid", { domain: domain });
    return out;
  }

  function checkNonce(nonce) {
    var n = String(nonce || "").trim().toLowerCase();
    if (!/^[0-9a-f]{32,128}$/.test(n)) fail("a nonce is 32 to 128 hex digits, as in your receipt", "nonce-invalid");
    return n;
  }

  // The commitments (hex) of a signature to petition `slug` by `address` with `nonce`:
  // SHA-256("petition-signature-v1\n" + slug + "\n" + address + "\n" + nonce), one per spelling above.
  async function commitments(slug, address, nonce) {
    var n = checkNonce(nonce);
    var out = [];
    var spellings = commitmentAddresses(address);
    for (var i = 0; i < spellings.length; i++) {
      var preimage = "petition-signature-v1\n" + slug + "\n" + spellings[i] + "\n" + n;
      out.push(hex(await sha256(encoder.encode(preimage))));
    }
    return out;
  }

  // The index of the add holding one of these commitments, or -1.
  async function findCommitment(result, hexes) {
    var log = stateOf(result);
    var prefixes = hexes.map(function (h) { return parseInt(h.slice(0, 7), 16); });
    for (var i = 0; i < log.tally.prefixes.length; i++) {
      if (prefixes.indexOf(log.tally.prefixes[i]) < 0) continue;
      var add = log.tally.adds[i];
      if (add && hexes.indexOf(add.commitment) >= 0) return i;
    }
    return -1;
  }

  // A signer's receipt against the verified log: {entry, nonce, email}; entry may be left out, and
  // is then found by the commitment. Resolves to checkEntry's answer plus `matches` (true, false, or
  // null without an email) and `found` (the entry was looked up by its commitment), or to
  // {found: false, entry: null} when no entry holds the commitment.
  async function checkReceipt(result, receipt) {
    var log = stateOf(result);
    var hasEntry = receipt.entry !== undefined && receipt.entry !== null && String(receipt.entry).trim() !== "";
    var email = receipt.email ? String(receipt.email) : "";
    var mine = null;
    if (email) mine = await commitments(log.site.slug, email, receipt.nonce);
    else if (receipt.nonce) checkNonce(receipt.nonce);
    if (!hasEntry) {
      if (!mine) fail("receipt: without the entry number, your email address is needed to find your entry", "email-needed");
      var index = await findCommitment(result, mine);
      if (index < 0) return { found: false, entry: null, size: log.size, matches: false };
      return Object.assign(await checkEntry(result, index), { found: true, matches: true });
    }
    var entry = await checkEntry(result, String(receipt.entry).trim());
    entry.found = false;
    entry.matches = mine ? mine.indexOf(entry.commitment) >= 0 : null;
    return entry;
  }

  var api = {
    verifyLog: verifyLog,
    tilePath: tilePath,
    parseVerifierKey: parseVerifierKey,
    checkEntry: checkEntry,
    checkReceipt: checkReceipt,
    commitments: commitments,
    commitmentAddresses: commitmentAddresses,
    verifyInclusion: verifyInclusion,
  };
  root.PetitionLog = api;
  root.verifyLog = verifyLog;
})(typeof window !== "undefined" ? window : this);
