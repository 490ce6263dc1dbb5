"""The standalone verifier against a log served over HTTP: honest, broken, and dishonest.

Each dishonest log is one an operator could serve: files changed after signing (the tree no
longer matches the signed root), or a history rewritten and signed again (only a monitor's
remembered checkpoint, or a signer's receipt, can tell, and they must).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from petitions import verify
from petitions.infra.tlog import entries, merkle, note, tiles
from tests.transparency.fakelog import StaticLog, sample_entries, serve

SLUG = "save-the-park"


@pytest.fixture
def files() -> dict[str, bytes]:
    return {}


@pytest.fixture
def base_url(files: dict[str, bytes]) -> Iterator[str]:
    with serve(files) as url:
        yield url


@pytest.fixture
def log(base_url: str, files: dict[str, bytes]) -> StaticLog:
    log = StaticLog(base_url, SLUG, files)
    new, _ = sample_entries(700, SLUG)
    log.append(new[:300])
    log.append(new[300:301])
    log.append(new[301:])
    return log


def run(log: StaticLog, *args: str, capsys: pytest.CaptureFixture[str], pin: bool = True) -> tuple[int, str, str]:
    argv = [log.url, *(["--key", log.verifier_key] if pin else []), *args]
    code = verify.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def failure(log: StaticLog, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(log, *args, capsys=capsys)
    assert code == 1, out
    assert err.startswith("VERIFICATION FAILED: "), err
    return err


def rebuild(log: StaticLog, new: list[bytes]) -> StaticLog:
    """The operator's own key signing another history of the log (same URL, same key)."""
    for path in [p for p in log.files if p.startswith(log.prefix)]:
        del log.files[path]
    forged = StaticLog(log.base_url, log.slug, log.files, signer=log.signer)
    forged.append(new)
    return forged


def test_an_honest_log_verifies_and_its_counts_are_printed(log: StaticLog, capsys: pytest.CaptureFixture[str]) -> None:
    _, expected = sample_entries(700, SLUG)
    code, out, err = run(log, "--json", capsys=capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["size"] == 700
    assert result["root"] == log.checkpoint.root_b64
    assert {k: result[k] for k in ("count", "by_country", "by_group")} == expected
    code, out, _ = run(log, capsys=capsys, pin=False)
    assert code == 0
    assert f"count: {expected['count']}" in out
    assert "by the key the site itself serves at /log/key (pin it with --key)" in out
    assert "uni.example.ac.uk" in out


def test_an_empty_log_verifies(base_url: str, files: dict[str, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    log = StaticLog(base_url, SLUG, files)
    log.sign()
    code, out, _ = run(log, capsys=capsys)
    assert code == 0
    assert "0 entries" in out and "count: 0" in out


def test_gzip_answers_are_read(capsys: pytest.CaptureFixture[str]) -> None:
    # tlog-tiles lets a log compress everything; a verifier that did not inflate would fail on the bundles.
    files: dict[str, bytes] = {}
    with serve(files, compress=True) as url:
        log = StaticLog(url, SLUG, files)
        log.append(sample_entries(300, SLUG)[0])
        code, _, err = run(log, capsys=capsys)
    assert code == 0, err


def test_receipts_show_inclusion_and_whether_the_signature_counts(
    log: StaticLog, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = entries.replay(log.entries)
    live = next(i for i in range(700) if tally.is_live(i))
    gone = next(i for i in range(700) if i in tally.removed_by)
    code, out, err = run(
        log,
        "--receipt",
        f"{live}:{live:032x}:Signer{live}@Example.org",
        "--receipt",
        f"{gone}:{gone:032x}:signer{gone}@example.org",
        capsys=capsys,
    )
    assert code == 0, err
    assert f"receipt: entry {live} is your signature, included in the signed log of 700 entries; it counts." in out
    assert f"receipt: entry {gone} is your signature" in out
    assert f"removed by entry {tally.removed_by[gone]} and does not count" in out
    err = failure(log, "--receipt", f"{live}:{live:032x}:someone.else@example.org", capsys=capsys)
    assert f"entry {live} is not the signature of this address with this nonce" in err
    err = failure(log, "--receipt", f"700:{0:032x}:signer0@example.org", capsys=capsys)
    assert "entry 700 is not in the log yet (it has 700 entries)" in err
    assert "INDEX:NONCE:EMAIL" in failure(log, "--receipt", "seven:abc", capsys=capsys)


def test_a_changed_byte_in_an_entry_is_caught(log: StaticLog, capsys: pytest.CaptureFixture[str]) -> None:
    path = log.prefix + "tile/entries/001"
    log.files[path] = log.files[path].replace(b'"country":"FR"', b'"country":"GB"', 1)
    assert "tile/0/001 does not match the hashes of the entries in tile/entries/001" in failure(log, capsys=capsys)


def test_a_dropped_entry_is_caught(log: StaticLog, capsys: pytest.CaptureFixture[str]) -> None:
    path = log.prefix + "tile/entries/000"
    items = tiles.decode_bundle(log.files[path])
    log.files[path] = tiles.encode_bundle(items[:10] + items[11:])
    assert "tile/entries/000 holds 255 entries, expected 256" in failure(log, capsys=capsys)


def test_reordered_entries_are_caught_even_with_their_level_0_tile(
    log: StaticLog, capsys: pytest.CaptureFixture[str]
) -> None:
    path = log.prefix + "tile/entries/000"
    items = tiles.decode_bundle(log.files[path])
    items[3], items[4] = items[4], items[3]
    log.files[path] = tiles.encode_bundle(items)
    assert "tile/0/000 does not match" in failure(log, capsys=capsys)
    # The operator rewrites the level 0 tile to match: the level above no longer does.
    log.files[log.prefix + "tile/0/000"] = b"".join(merkle.leaf_hash(e) for e in items)
    assert "tile/1/000.p/2 does not match the tiles below it" in failure(log, capsys=capsys)


def test_a_tree_that_does_not_hash_to_the_signed_root_is_caught(
    log: StaticLog, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every tile consistent with the (altered) entries, but not what was signed.
    items = [*log.entries]
    items[3], items[4] = items[4], items[3]
    forged = StaticLog(log.base_url, SLUG, {}, signer=log.signer)
    forged.append(items, sign=False)
    log.files.update({p: d for p, d in forged.files.items() if "/tile/" in p})
    assert "root mismatch: the entries hash to " in failure(log, capsys=capsys)


def test_a_missing_tile_is_named(log: StaticLog, capsys: pytest.CaptureFixture[str]) -> None:
    del log.files[log.prefix + "tile/0/001"]
    assert "log/tile/0/001 is missing (HTTP 404)" in failure(log, capsys=capsys)


def test_a_partial_tile_replaced_by_its_full_tile_is_still_read(
    log: StaticLog, capsys: pytest.CaptureFixture[str]
) -> None:
    # The log grows to 768 and deletes each partial tile whose full tile now exists (tlog-tiles
    # allows it), while a verifier still checks the checkpoint of size 700 it fetched before.
    old = log.checkpoint
    log.append([entries.add_entry("cd" * 32, "GB") for _ in range(68)], sign=False)
    gone = [p for p in log.files if ".p/" in p and p.partition(".p/")[0] in log.files]
    assert {"tile/0/002.p/188", "tile/entries/002.p/188"} <= {p.removeprefix(log.prefix) for p in gone}
    for path in gone:
        del log.files[path]
    log.sign(old)
    code, _, err = run(log, capsys=capsys)
    assert code == 0, err


def test_a_bad_signature_or_another_key_is_caught(log: StaticLog, capsys: pytest.CaptureFixture[str]) -> None:
    path = log.prefix + "checkpoint"
    signed = log.files[path]
    log.files[path] = signed.replace(b"\n700\n", b"\n699\n")
    assert "checkpoint: the signature by 127.0.0.1" in failure(log, capsys=capsys)
    assert "does not verify" in failure(log, capsys=capsys)
    log.files[path] = signed
    other = note.generate_key(note.key_name(log.base_url))
    code = verify.main([log.url, "--key", str(other.verifier)])
    assert code == 1
    assert "not signed by the expected key" in capsys.readouterr().err


def test_another_petitions_checkpoint_is_refused(log: StaticLog, capsys: pytest.CaptureFixture[str]) -> None:
    other = note.Checkpoint(note.log_origin(log.base_url, "another"), log.checkpoint.size, log.checkpoint.root)
    log.sign(other)
    assert "the checkpoint is for the log '127.0.0.1" in failure(log, capsys=capsys)


def test_a_signed_log_whose_entries_do_not_add_up_is_refused(
    log: StaticLog, capsys: pytest.CaptureFixture[str]
) -> None:
    removed = next(i for i in range(700) if i in entries.replay(log.entries).removed_by)
    forged = rebuild(log, [*log.entries, entries.remove_entry(removed, "withdrawn")])
    assert f"entry 700 removes entry {removed}, which is already removed" in failure(forged, capsys=capsys)
    forged = rebuild(log, [*log.entries[:700], b'{"op":"add","country":"GB"}'])
    assert 'entry 700 is malformed: "commitment" is not 64 lower-case hex digits' in failure(forged, capsys=capsys)


def test_a_monitor_proves_each_checkpoint_extends_the_last(
    log: StaticLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    code, out, _ = run(log, "--state", str(state), capsys=capsys)
    assert code == 0 and "first checkpoint" in out
    code, out, _ = run(log, "--state", str(state), capsys=capsys)
    assert code == 0 and "unchanged since it was last verified (size 700)" in out
    log.append([entries.add_entry("ef" * 32, "IE") for _ in range(5)])
    code, out, _ = run(log, "--state", str(state), capsys=capsys)
    assert code == 0 and "size 700 to 705, consistency proven" in out
    remembered = json.loads(state.read_text())["logs"][log.checkpoint.origin]
    assert remembered == {"key": log.verifier_key, "size": 705, "root": log.checkpoint.root_b64}


def test_a_fork_of_the_same_size_is_caught(log: StaticLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.json"
    assert run(log, "--state", str(state), capsys=capsys)[0] == 0
    # The operator swaps one signature for another, keeping the size: both logs are signed.
    forged = rebuild(log, [*log.entries[:10], entries.add_entry("12" * 32, "GB"), *log.entries[11:]])
    assert forged.checkpoint.size == 700
    assert run(forged, capsys=capsys)[0] == 0  # on its own, a rewritten log is a valid log
    err = failure(forged, "--state", str(state), capsys=capsys)
    assert "FORK: two different logs of size 700" in err


def test_a_rewritten_history_that_grew_is_caught(
    log: StaticLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    assert run(log, "--state", str(state), capsys=capsys)[0] == 0
    tally = entries.replay(log.entries)
    k = next(i for i in range(700) if tally.is_live(i))
    forged = rebuild(log, [*log.entries[:k], entries.add_entry("34" * 32, "GB"), *log.entries[k + 1 :], log.entries[k]])
    err = failure(forged, "--state", str(state), capsys=capsys)
    assert "FORK: the log of 701 entries does not extend the one of 700 verified before" in err
    # The signer whose entry was swapped out finds out too.
    err = failure(forged, "--receipt", f"{k}:{k:032x}:signer{k}@example.org", capsys=capsys)
    assert f"entry {k} is not the signature of this address with this nonce" in err


def test_a_rollback_is_caught(log: StaticLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.json"
    assert run(log, "--state", str(state), capsys=capsys)[0] == 0
    forged = rebuild(log, log.entries[:650])
    assert "ROLLBACK: the log had 700 entries when last verified, now 650" in failure(
        forged, "--state", str(state), capsys=capsys
    )


def test_a_changed_key_is_caught_by_a_monitor(
    log: StaticLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    assert run(log, "--state", str(state), capsys=capsys, pin=False)[0] == 0
    forged = StaticLog(log.base_url, SLUG, log.files)  # a new key, served at /log/key
    forged.append(log.entries)
    code, _, err = run(forged, "--state", str(state), capsys=capsys, pin=False)
    assert code == 1 and "KEY CHANGED" in err


def test_a_bad_address_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("ftp://example.org/petitions/x", "https://example.org/other/x", "https://example.org/petitions/"):
        assert verify.main([url]) == 1
        assert "is not a petition's address" in capsys.readouterr().err
    assert verify.main(["http://127.0.0.1:9/petitions/x", "--key", "x"]) == 1
    assert "the verifier key" in capsys.readouterr().err
