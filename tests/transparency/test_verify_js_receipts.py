"""static/verify.js checks a signer's receipt: the same commitment as the site, and an inclusion proof from the tiles.

The log is the test's own (tests/transparency/fakelog.py), served as static files with the
script beside it; every answer is compared with the Python core's.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from playwright.sync_api import Page

from petitions.infra.tlog import entries, merkle, tiles
from tests.transparency.fakelog import StaticLog, sample_entries

pytestmark = pytest.mark.browser

SLUG = "save-the-park"


def verify_then(page: Page, log: StaticLog, script: str, arg: Any) -> Any:
    """Verify the log in the page, keep the result as window.verified, then run `script(arg)`."""
    page.evaluate("async ([url, key]) => { window.verified = await verifyLog(url, key); }", [log.url, log.verifier_key])
    return page.evaluate(script, arg)


CHECK_ENTRIES = """async (indices) => {
    const out = [];
    for (const i of indices) {
        try { out.push(await PetitionLog.checkEntry(window.verified, i)); }
        catch (e) { out.push({error: e.message, name: e.name}); }
    }
    return out;
}"""

CHECK_RECEIPT = """async (receipt) => {
    try { return await PetitionLog.checkReceipt(window.verified, receipt); }
    catch (e) { return {error: e.message, name: e.name}; }
}"""


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.org",
        "  Ada.Lovelace@Example.ORG \n",
        "zoe@bücher.de",
        "ZOË@BÜCHER.DE",
        "Jose\u0301@example.com",  # decomposed: NFC composes it as the site does
        "hans@straße.de",  # IDNA 2003 (the site's) maps ß to ss; the browser's URL keeps it
        "ivan@пример.рф",
        "a@xn--bcher-kva.de",
    ],
)
def test_the_browser_commits_to_an_address_as_the_site_does(page: Page, address: str) -> None:
    nonce = "0123456789abcdef" * 2
    expected = entries.commitment(SLUG, address, nonce)
    got = page.evaluate("([s, a, n]) => PetitionLog.commitments(s, a, n)", [SLUG, address, nonce])
    assert expected in got, (address, entries.commitment_address(address))


def test_every_entry_is_proven_included_with_its_state(page: Page, served: str, files: dict[str, bytes]) -> None:
    log = StaticLog(served, SLUG, files)
    new, _ = sample_entries(700, SLUG)
    log.append(new)
    tally = entries.replay(new)
    reader = tiles.TileHashReader(700, log.read_tile)
    results = verify_then(page, log, CHECK_ENTRIES, list(range(700)))
    for index, (data, got) in enumerate(zip(new, results, strict=True)):
        entry = entries.parse_entry(data)
        if entry.op != "add":
            assert got["error"] == f"receipt: entry {index} is not a signature: it changes another entry"
            continue
        proof = [base64.b64encode(h).decode() for h in merkle.inclusion_proof(index, 700, reader)]
        assert (got["entry"], got["size"], got["included"], got["proof"]) == (index, 700, True, proof)
        # The domain the signature counts toward now: its add's, or a later group entry's.
        assert (got["commitment"], got["country"], got["domain"]) == (
            entry.commitment,
            entry.country,
            tally.domains[index],
        )
        assert got["live"] == tally.is_live(index)
        if tally.is_live(index):
            assert (got["removedBy"], got["reason"]) == (None, None)
        else:
            assert (got["removedBy"], got["reason"]) == (tally.removed_by[index], "withdrawn")


def test_proofs_across_tile_levels(page: Page, served: str, files: dict[str, bytes]) -> None:
    """65,540 entries: the proofs of the last ones climb through a level-2 tile."""
    log = StaticLog(served, SLUG, files)
    size = 256 * 256 + 4
    log.append([entries.add_entry(f"{i:064x}", "GB") for i in range(size)])
    reader = tiles.TileHashReader(size, log.read_tile)
    wanted = [0, 255, 256, 65_535, 65_536, size - 1]
    results = verify_then(page, log, CHECK_ENTRIES, wanted)
    for index, got in zip(wanted, results, strict=True):
        proof = [base64.b64encode(h).decode() for h in merkle.inclusion_proof(index, size, reader)]
        assert (got.get("error"), got["proof"], got["live"]) == (None, proof, True), index


def test_a_receipt_with_and_without_its_entry(page: Page, served: str, files: dict[str, bytes]) -> None:
    log = StaticLog(served, SLUG, files)
    new, _ = sample_entries(300, SLUG)
    log.append(new)
    assert entries.replay(new).is_live(299) and entries.parse_entry(new[299]).op == "add"
    mine = {"email": " Signer299@EXAMPLE.org", "nonce": f"{299:032x}"}
    got = verify_then(page, log, CHECK_RECEIPT, {**mine, "entry": "299"})
    assert (got["entry"], got["matches"], got["found"], got["live"]) == (299, True, False, True)
    # Another address, or another entry, does not match.
    assert (
        verify_then(page, log, CHECK_RECEIPT, {**mine, "email": "signer8@example.org", "entry": 299})["matches"]
        is False
    )
    assert verify_then(page, log, CHECK_RECEIPT, {**mine, "entry": 297})["matches"] is False
    # Without an email, the entry is still proven included; the match is unknown.
    assert verify_then(page, log, CHECK_RECEIPT, {"nonce": mine["nonce"], "entry": 299})["matches"] is None
    # Without the entry, the commitment finds it; a withdrawn one says so, and which entry removed it.
    found = verify_then(page, log, CHECK_RECEIPT, mine)
    assert (found["entry"], found["found"], found["matches"]) == (299, True, True)
    tally = entries.replay(new)
    removed = min(tally.removed_by)
    gone = verify_then(page, log, CHECK_RECEIPT, {"email": f"signer{removed}@example.org", "nonce": f"{removed:032x}"})
    assert (gone["entry"], gone["live"], gone["reason"]) == (removed, False, "withdrawn")
    assert gone["removedBy"] == tally.removed_by[removed]
    missing = verify_then(page, log, CHECK_RECEIPT, {**mine, "email": "nobody@example.org"})
    assert (missing["found"], missing["entry"]) == (False, None)


@pytest.mark.parametrize(
    ("receipt", "message"),
    [
        ({"entry": 300, "nonce": "0" * 32}, "receipt: entry 300 is not in the log yet (it has 300 entries)"),
        ({"entry": "x", "nonce": "0" * 32}, "receipt: the entry number is not a whole number"),
        ({"entry": 1, "nonce": "not hex", "email": "a@b.org"}, "a nonce is 32 to 128 hex digits"),
        ({"entry": 1, "nonce": "0" * 32, "email": "no-at-sign"}, "that is not an email address"),
        ({"nonce": "0" * 32}, "your email address is needed to find your entry"),
    ],
)
def test_a_receipt_that_cannot_be_checked_says_why(
    page: Page, served: str, files: dict[str, bytes], receipt: dict[str, object], message: str
) -> None:
    log = StaticLog(served, SLUG, files)
    log.append(sample_entries(300, SLUG)[0])
    got = verify_then(page, log, CHECK_RECEIPT, receipt)
    assert got.get("name") == "VerifyError" and message in got["error"], got


def test_an_entry_changed_after_the_check_is_not_included(page: Page, served: str, files: dict[str, bytes]) -> None:
    log = StaticLog(served, SLUG, files)
    new, _ = sample_entries(300, SLUG)
    log.append(new)
    page.evaluate("async ([url, key]) => { window.verified = await verifyLog(url, key); }", [log.url, log.verifier_key])
    path = log.prefix + "tile/entries/000"
    files[path] = files[path].replace(b'"FR"', b'"GB"', 1)
    (got,) = page.evaluate(CHECK_ENTRIES, [1])
    assert got["error"] == (
        "receipt: entry 1 is not included in the signed log: its inclusion proof does not lead to the signed root"
    )


def test_a_receipt_needs_a_verified_log(page: Page) -> None:
    got = page.evaluate(
        """async () => {
            try { await PetitionLog.checkEntry({size: 1}, 0); return null; }
            catch (e) { return e.message; }
        }"""
    )
    assert got == "verify the log first: a receipt is checked against a verified log"
