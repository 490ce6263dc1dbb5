"""static/verify.js in headless Chromium: the same log, the same counts as the standalone verifier.

A blank page from a local http.server loads the script; the log beside it is the test's own.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from petitions.infra.tlog import entries, note, tiles
from tests.transparency.fakelog import StaticLog, sample_entries

pytestmark = pytest.mark.browser

SLUG = "save-the-park"


def run(page: Page, url: str, key: str | None) -> dict[str, Any]:
    """verifyLog's result, or {"error": message}; with the progress reports seen."""
    return page.evaluate(
        """async ([url, key]) => {
            const seen = [];
            try {
                const result = await verifyLog(url, key, (p) => seen.push(p.stage + " " + p.done + "/" + p.total));
                return Object.assign(result, {seen});
            } catch (e) {
                return {error: e.message, name: e.name};
            }
        }""",
        [url, key],
    )


def test_the_browser_gets_the_same_counts(page: Page, served: str, files: dict[str, bytes]) -> None:
    log = StaticLog(served, SLUG, files)
    new, expected = sample_entries(700, SLUG)
    log.append(new[:300])
    log.append(new[300:])
    result = run(page, log.url, log.verifier_key)
    assert "error" not in result, result
    assert {k: result[k] for k in ("count", "byCountry", "byGroup")} == {
        "count": expected["count"],
        "byCountry": expected["by_country"],
        "byGroup": expected["by_group"],
    }
    assert (result["size"], result["root"], result["origin"]) == (700, log.checkpoint.root_b64, log.checkpoint.origin)
    # Chromium's WebCrypto has Ed25519, so the signature is checked, not skipped.
    assert result["signatureChecked"] is True and result["signature"] == "valid"
    assert result["seen"][0] == "checkpoint 0/1"
    assert "entries 3/3" in result["seen"] and "level 1 1/1" in result["seen"]
    # Without a pinned key, the site's /log/key is used.
    assert run(page, log.url, None)["count"] == expected["count"]


def test_the_empty_log_and_a_full_tile(page: Page, served: str, files: dict[str, bytes]) -> None:
    log = StaticLog(served, SLUG, files)
    log.sign()
    assert run(page, log.url, log.verifier_key)["count"] == 0
    log.append([entries.add_entry(f"{i:064x}", "GB") for i in range(256)])
    result = run(page, log.url, log.verifier_key)
    assert (result["size"], result["count"], result["byCountry"]) == (256, 256, {"GB": 256})


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("entry", "tile/0/001 does not match the hashes of the entries in tile/entries/001"),
        ("drop", "tile/entries/000 holds 255 entries, expected 256"),
        ("tile", "tile/1/000.p/2 does not match the tiles below it"),
        ("missing", "tile/0/001 is missing (HTTP 404)"),
        ("signature", "checkpoint: the signature by 127.0.0.1"),
        ("key", "checkpoint: the note is not signed by the expected key"),
        ("origin", "the checkpoint is for the log"),
        ("replay", "entry 700 removes entry 0, which is already removed"),
    ],
)
def test_a_tampered_log_fails_with_a_clear_message(
    page: Page, served: str, files: dict[str, bytes], tamper: str, message: str
) -> None:
    log = StaticLog(served, SLUG, files)
    new, _ = sample_entries(700, SLUG)
    log.append(new)
    key = log.verifier_key
    p = log.prefix
    if tamper == "entry":
        files[p + "tile/entries/001"] = files[p + "tile/entries/001"].replace(b'"FR"', b'"GB"', 1)
    elif tamper == "drop":
        files[p + "tile/entries/000"] = tiles.encode_bundle(tiles.decode_bundle(files[p + "tile/entries/000"])[1:])
    elif tamper == "tile":
        files[p + "tile/1/000.p/2"] = files[p + "tile/1/000.p/2"][::-1]
    elif tamper == "missing":
        del files[p + "tile/0/001"]
    elif tamper == "signature":
        files[p + "checkpoint"] = files[p + "checkpoint"].replace(b"\n700\n", b"\n699\n")
    elif tamper == "key":
        key = str(note.generate_key(note.key_name(served)).verifier)
    elif tamper == "origin":
        log.sign(note.Checkpoint(note.log_origin(served, "another"), 700, log.checkpoint.root))
    elif tamper == "replay":
        assert not entries.replay(new).is_live(0)
        log.append([entries.remove_entry(0, "withdrawn")])
    result = run(page, log.url, key)
    assert result.get("name") == "VerifyError", result
    assert message in result["error"]
