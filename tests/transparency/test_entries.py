"""Entries, the signer's commitment, and the replay that counts them."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from petitions.infra.tlog import entries
from petitions.infra.tlog.entries import EntryError, add_entry, group_entry, remove_entry, replay, restore_entry

C = "ab" * 32


def test_the_commitment_is_the_documented_hash() -> None:
    nonce = "00112233445566778899aabbccddeeff"
    preimage = b"petition-signature-v1\nsave-the-park\nsigner@example.org\n" + nonce.encode()
    assert entries.commitment("save-the-park", "signer@example.org", nonce) == hashlib.sha256(preimage).hexdigest()
    # The address is the same however the signer types it.
    for typed in (" Signer@Example.ORG ", "SIGNER@example.org"):
        assert entries.commitment("save-the-park", typed, nonce) == entries.commitment(
            "save-the-park", "signer@example.org", nonce
        )
    # A domain in Unicode is bound in its ASCII form, as the mail was addressed.
    assert entries.commitment("p", "ana@bücher.example", nonce) == entries.commitment(
        "p", "ana@xn--bcher-kva.example", nonce
    )
    # Each part counts: another petition, address or nonce gives another commitment.
    base = entries.commitment("p", "a@example.org", nonce)
    assert entries.commitment("q", "a@example.org", nonce) != base
    assert entries.commitment("p", "b@example.org", nonce) != base
    assert entries.commitment("p", "a@example.org", "f" * 32) != base


def test_nonces_are_128_bits_of_hex() -> None:
    nonces = {entries.new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)
    for bad in ("", "abc", "G" * 32, "AB" * 16, "a" * 31):
        with pytest.raises(EntryError):
            entries.commitment("p", "a@example.org", bad)
    with pytest.raises(EntryError):
        entries.commitment("p", "not an address", "a" * 32)


def test_entries_are_compact_json_with_only_public_fields() -> None:
    assert add_entry(C, "GB") == b'{"op":"add","commitment":"' + C.encode() + b'","country":"GB"}'
    assert json.loads(add_entry(C, "FR", "uni.example.ac.uk")) == {
        "op": "add",
        "commitment": C,
        "country": "FR",
        "domain": "uni.example.ac.uk",
    }
    assert remove_entry(3, "invalidated") == b'{"op":"remove","entry":3,"reason":"invalidated"}'
    assert restore_entry(3) == b'{"op":"restore","entry":3}'
    assert group_entry(3, "acme.org") == b'{"op":"group","entry":3,"domain":"acme.org"}'
    with pytest.raises(EntryError):
        remove_entry(3, "because")
    with pytest.raises(EntryError):
        add_entry("xyz", "GB")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff", "UTF-8 JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"op":"add","commitment":"' + C.upper().encode() + b'","country":"GB"}', "commitment"),
        (b'{"op":"add","commitment":"' + C.encode() + b'","country":"gb"}', "country"),
        (b'{"op":"add","commitment":"' + C.encode() + b'"}', "country"),
        (b'{"op":"add","commitment":"' + C.encode() + b'","country":"GB","domain":""}', "domain"),
        (b'{"op":"remove","entry":true,"reason":"withdrawn"}', "entry index"),
        (b'{"op":"remove","entry":-1,"reason":"withdrawn"}', "entry index"),
        (b'{"op":"remove","entry":1.0,"reason":"withdrawn"}', "entry index"),
        (b'{"op":"remove","entry":0}', "reason"),
        (b'{"op":"restore"}', "entry index"),
        (b'{"op":"group","entry":0}', "domain"),
        (b'{"op":"group","entry":0,"domain":""}', "domain"),
        (b'{"op":"group","domain":"acme.org"}', "entry index"),
        (b'{"op":"merge","entry":0}', "unknown op"),
    ],
)
def test_malformed_entries_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(EntryError, match=message):
        entries.parse_entry(data)


def test_unknown_fields_are_ignored() -> None:
    parsed = entries.parse_entry(b'{"op":"add","commitment":"' + C.encode() + b'","country":"GB","extra":[1]}')
    assert (parsed.op, parsed.country, parsed.domain) == ("add", "GB", None)


def test_a_group_entry_moves_an_add_into_a_group_live_or_removed() -> None:
    log = [
        add_entry(C, "GB"),  # 0
        add_entry(C, "FR"),  # 1
        add_entry(C, "DE", "old.example"),  # 2
        remove_entry(1, "invalidated"),  # 3
        group_entry(0, "acme.org"),  # 4: live, counts toward acme.org from now on
        group_entry(1, "acme.org"),  # 5: removed, counts toward it once restored
        group_entry(2, "acme.org"),  # 6: moves from old.example
    ]
    assert replay(log).live_by_group() == {"acme.org": 2}
    tally = replay([*log, restore_entry(1)])
    assert tally.summary()["by_group"] == {"acme.org": 3} and tally.count == 3


def test_replay_counts_the_adds_that_are_live() -> None:
    log = [
        add_entry(C, "GB", "uni.example.ac.uk"),  # 0
        add_entry(C, "FR"),  # 1
        add_entry(C, "GB"),  # 2
        remove_entry(0, "withdrawn"),  # 3
        remove_entry(1, "invalidated"),  # 4
        restore_entry(1),  # 5
        add_entry(C, "DE", "uni.example.ac.uk"),  # 6
        remove_entry(2, "erased"),  # 7
    ]
    tally = replay(log)
    assert tally.summary() == {
        "size": 8,
        "count": 2,
        "by_country": {"DE": 1, "FR": 1},
        "by_group": {"uni.example.ac.uk": 1},
    }
    assert [tally.is_live(i) for i in range(8)] == [False, True, False, False, False, False, True, False]
    assert tally.removed_by == {0: 3, 2: 7}


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (
            [add_entry(C, "GB"), remove_entry(0, "withdrawn"), remove_entry(0, "withdrawn")],
            "entry 2 removes entry 0, which is already removed",
        ),
        ([add_entry(C, "GB"), restore_entry(0)], "entry 1 restores entry 0, which is live"),
        (
            [add_entry(C, "GB"), remove_entry(1, "withdrawn")],
            "entry 1 \\(remove\\) names entry 1, which does not come before it",
        ),
        (
            [add_entry(C, "GB"), remove_entry(7, "withdrawn")],
            "entry 1 \\(remove\\) names entry 7, which does not come before it",
        ),
        (
            [add_entry(C, "GB"), remove_entry(0, "withdrawn"), remove_entry(1, "withdrawn")],
            "names entry 1, which is not an add",
        ),
        ([add_entry(C, "GB"), b"{}"], "entry 1 is malformed: unknown op None"),
        (
            [add_entry(C, "GB"), remove_entry(0, "withdrawn"), group_entry(1, "acme.org")],
            "entry 2 \\(group\\) names entry 1, which is not an add",
        ),
        ([add_entry(C, "GB"), group_entry(1, "acme.org")], "entry 1 \\(group\\) names entry 1, which does not come"),
    ],
)
def test_a_log_that_does_not_add_up_says_which_entry(log: list[bytes], message: str) -> None:
    with pytest.raises(EntryError, match=message):
        replay(log)


_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x24F), max_size=70)
_VALUE = st.one_of(_TEXT, st.integers(-5, 10**20), st.booleans(), st.none(), st.floats(allow_nan=False))


@st.composite
def _entry(draw: st.DrawFn) -> bytes:
    """Entries shaped like the ones the site writes, with any values in the fields."""
    op = draw(st.sampled_from(["add", "remove", "restore", "other"]))
    obj: dict[str, object] = {"op": op}
    if op == "add":
        hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
        obj["commitment"] = draw(st.one_of(hex64, st.text("0123456789abcdefABCDEF", min_size=63, max_size=65), _VALUE))
        country = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)
        obj["country"] = draw(st.one_of(country, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZab", max_size=3), _VALUE))
        if draw(st.booleans()):
            obj["domain"] = draw(st.one_of(_TEXT, st.text("abc.-", min_size=250, max_size=256), _VALUE))
    else:
        obj["entry"] = draw(st.one_of(st.integers(-3, 10**19), _VALUE))
        if op == "remove":
            obj["reason"] = draw(_VALUE)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=draw(st.booleans())).encode()


def test_the_entries_the_site_writes_take_the_fast_path() -> None:
    written = [
        add_entry(C, "GB"),
        add_entry(C, "GB", "uni.example.ac.uk"),
        remove_entry(12, "erased"),
        restore_entry(0),
    ]
    fast = (entries._FAST_ADD, entries._FAST_REMOVE, entries._FAST_RESTORE)
    assert all(any(p.fullmatch(data) for p in fast) for data in written)


@settings(max_examples=2000, deadline=None)
@given(_entry())
def test_the_fast_path_reads_every_entry_as_json_does(data: bytes) -> None:
    try:
        want: entries.Entry | str = entries.parse_json_entry(data)
    except EntryError as exc:
        want = str(exc)
    try:
        got: entries.Entry | str = entries.parse_entry(data)
    except EntryError as exc:
        got = str(exc)
    assert got == want
