"""The entries of a petition's log, the signer's commitment, and the replay that counts them.

An entry is one JSON object, UTF-8, written without insignificant whitespace:
- {"op":"add","commitment":"<64 hex>","country":"GB"} and "domain":"<group domain>" only when
  the signature counts toward a supporter group;
- {"op":"remove","entry":<index of an add>,"reason":"withdrawn"|"invalidated"|"erased"};
- {"op":"restore","entry":<index of a removed add>};
- {"op":"group","entry":<index of an add>,"domain":"<group domain>"}: the add counts toward that
  supporter group from now on (an add sequenced before its group was shown publicly: see
  transparency/sequencer.py).
Unknown fields are ignored; an unknown op stops the replay, since its effect on the count is unknown.

The count is the number of adds whose last state is live. A remove must name an earlier add
that is live, a restore an earlier add that is removed, a group an earlier add: anything else is a log that does not
add up, and the replay says which entry breaks it.

The commitment binds the signer's address and a secret random nonce, so that the signer (who
holds the nonce from their receipt) can find their entry, an auditor shown a sample of
signatures by the operator can check them, and nobody can test a guessed address against the log:

    commitment = hex(SHA-256("petition-signature-v1\\n" || slug || "\\n" || address || "\\n" || nonce))

all as UTF-8, where `nonce` is at least 32 lower-case hex digits (128 bits; new_nonce gives 128)
and `address` is commitment_address(the address the confirmation email went to): trimmed,
Unicode NFC, lower-cased, the domain in IDNA ASCII form. This is deliberately not the
provider-specific mailbox key the platform uses against duplicates: that table changes over
time, and a receipt must check for years with nothing but this file.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

COMMITMENT_DOMAIN = "petition-signature-v1"
NONCE_BYTES = 16
REASONS = ("withdrawn", "invalidated", "erased")

_HEX64 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{32,128}")
_COUNTRY = re.compile(r"[A-Z]{2}")


class EntryError(ValueError):
    """An entry is not a valid log entry, or the log's entries do not add up."""


def new_nonce() -> str:
    """A fresh secret nonce for a signature's commitment (128 bits, hex)."""
    return secrets.token_hex(NONCE_BYTES)


def commitment_address(address: str) -> str:
    """The form of an email address the commitment binds: trimmed, NFC, lower-case, IDNA ASCII domain."""
    address = unicodedata.normalize("NFC", address.strip()).lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise EntryError(f"{address!r} is not an email address")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise EntryError(f"{domain!r} is not a valid domain") from None
    return f"{local}@{domain}"


def commitment(slug: str, address: str, nonce: str) -> str:
    """The commitment of a signature to petition `slug` by `address` with this nonce (hex)."""
    if not _NONCE.fullmatch(nonce):
        raise EntryError("a nonce is 32 to 128 lower-case hex digits")
    preimage = f"{COMMITMENT_DOMAIN}\n{slug}\n{commitment_address(address)}\n{nonce}"
    return hashlib.sha256(preimage.encode("utf-8")).hexdigest()


def _encode(obj: dict[str, object]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def add_entry(commitment_hex: str, country: str, domain: str | None = None) -> bytes:
    """The entry that counts a signature (domain: the supporter group it counts toward, if any)."""
    obj: dict[str, object] = {"op": "add", "commitment": commitment_hex, "country": country}
    if domain:
        obj["domain"] = domain
    data = _encode(obj)
    parse_entry(data)
    return data


def remove_entry(index: int, reason: str) -> bytes:
    """The entry that stops counting add `index`."""
    if reason not in REASONS:
        raise EntryError(f"unknown reason {reason!r}")
    data = _encode({"op": "remove", "entry": index, "reason": reason})
    parse_entry(data)
    return data


def restore_entry(index: int) -> bytes:
    """The entry that counts add `index` again."""
    data = _encode({"op": "restore", "entry": index})
    parse_entry(data)
    return data


def group_entry(index: int, domain: str) -> bytes:
    """The entry that makes add `index` count toward the supporter group of `domain`."""
    data = _encode({"op": "group", "entry": index, "domain": domain})
    parse_entry(data)
    return data


class Entry(NamedTuple):
    """A parsed entry: op, and for an add its commitment, country and group domain; else the add it names
    (and for a group, the domain)."""

    op: str
    commitment: str = ""
    country: str = ""
    domain: str | None = None
    target: int = -1
    reason: str = ""


# The entries this platform writes, matched whole: a log of a million is read in a fraction of the
# time json.loads takes. Printable ASCII without quote or backslash is a JSON string that decodes
# to itself, so a match means exactly what json.loads would read; anything else takes the JSON path.
_TEXT = rb"[\x20\x21\x23-\x5b\x5d-\x7e]"
_FAST_ADD = re.compile(
    rb'\{"op":"add","commitment":"([0-9a-f]{64})","country":"([A-Z]{2})"(?:,"domain":"(' + _TEXT + rb"{1,253})\")?\}"
)
_FAST_REMOVE = re.compile(rb'\{"op":"remove","entry":(0|[1-9][0-9]{0,17}),"reason":"(' + _TEXT + rb'+)"\}')
_FAST_RESTORE = re.compile(rb'\{"op":"restore","entry":(0|[1-9][0-9]{0,17})\}')
_FAST_GROUP = re.compile(rb'\{"op":"group","entry":(0|[1-9][0-9]{0,17}),"domain":"(' + _TEXT + rb"{1,253})\"\}")


def _index(value: object) -> int:
    if type(value) is not int or value < 0:
        raise EntryError('"entry" is not an entry index')
    return value


def parse_entry(data: bytes) -> Entry:
    """An entry's fields, checked; EntryError says what is wrong."""
    match = _FAST_ADD.fullmatch(data)
    if match:
        commitment_hex, country, domain = match.groups()
        return Entry("add", commitment_hex.decode(), country.decode(), None if domain is None else domain.decode())
    match = _FAST_REMOVE.fullmatch(data)
    if match:
        return Entry("remove", target=int(match[1]), reason=match[2].decode())
    match = _FAST_RESTORE.fullmatch(data)
    if match:
        return Entry("restore", target=int(match[1]))
    match = _FAST_GROUP.fullmatch(data)
    if match:
        return Entry("group", domain=match[2].decode(), target=int(match[1]))
    return parse_json_entry(data)


def parse_json_entry(data: bytes) -> Entry:
    """parse_entry for any spelling of an entry: other key orders, escapes, unknown fields."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EntryError("not a UTF-8 JSON object") from None
    if not isinstance(obj, dict):
        raise EntryError("not a JSON object")
    op = obj.get("op")
    if op == "add":
        value, country, domain = obj.get("commitment"), obj.get("country"), obj.get("domain")
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise EntryError('"commitment" is not 64 lower-case hex digits')
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            raise EntryError('"country" is not a two-letter country code')
        if domain is not None and (not isinstance(domain, str) or not domain or len(domain) > 253):
            raise EntryError('"domain" is not a domain')
        return Entry("add", value, country, domain)
    if op == "remove":
        reason = obj.get("reason")
        if not isinstance(reason, str) or not reason:
            raise EntryError('"reason" is missing')
        return Entry("remove", target=_index(obj.get("entry")), reason=reason)
    if op == "restore":
        return Entry("restore", target=_index(obj.get("entry")))
    if op == "group":
        domain = obj.get("domain")
        if not isinstance(domain, str) or not domain or len(domain) > 253:
            raise EntryError('"domain" is not a domain')
        return Entry("group", domain=domain, target=_index(obj.get("entry")))
    raise EntryError(f"unknown op {op!r}")


LIVE, REMOVED = 1, 2


@dataclass
class Tally:
    """The counts a log's entries add up to, kept as entries are applied in order."""

    size: int = 0
    count: int = 0
    by_country: dict[str, int] = field(default_factory=dict)
    by_group: dict[str, int] = field(default_factory=dict)
    # Per entry: 0 for a remove, restore or group, LIVE or REMOVED for an add; and each add's country and group.
    states: bytearray = field(default_factory=bytearray)
    countries: list[str | None] = field(default_factory=list)
    domains: list[str | None] = field(default_factory=list)
    # The last remove of each removed add, to say why it no longer counts.
    removed_by: dict[int, int] = field(default_factory=dict)

    def apply(self, data: bytes) -> Entry:
        """Apply the next entry; EntryError (naming the entry) if it is malformed or does not add up."""
        index = self.size
        try:
            entry = parse_entry(data)
        except EntryError as exc:
            raise EntryError(f"entry {index} is malformed: {exc}") from None
        country: str | None = None
        domain: str | None = None
        if entry.op == "add":
            self.states.append(LIVE)
            # Interned: a million adds share a few hundred country and group strings.
            country = sys.intern(entry.country)
            domain = None if entry.domain is None else sys.intern(entry.domain)
            self._move(country, domain, +1)
        else:
            target = entry.target
            if target >= index:
                raise EntryError(f"entry {index} ({entry.op}) names entry {target}, which does not come before it")
            state = self.states[target]
            if state == 0:
                raise EntryError(f"entry {index} ({entry.op}) names entry {target}, which is not an add")
            if entry.op == "group":
                moved = sys.intern(entry.domain or "")
                if state == LIVE:
                    self._move_group(self.domains[target], -1)
                    self._move_group(moved, +1)
                self.domains[target] = moved
            elif entry.op == "remove":
                if state != LIVE:
                    raise EntryError(f"entry {index} removes entry {target}, which is already removed")
                self.states[target] = REMOVED
                self.removed_by[target] = index
                self._move(self.countries[target], self.domains[target], -1)
            else:
                if state != REMOVED:
                    raise EntryError(f"entry {index} restores entry {target}, which is live")
                self.states[target] = LIVE
                del self.removed_by[target]
                self._move(self.countries[target], self.domains[target], +1)
            self.states.append(0)
        self.countries.append(country)
        self.domains.append(domain)
        self.size += 1
        return entry

    def _move(self, country: str | None, domain: str | None, step: int) -> None:
        self.count += step
        if country is not None:
            self.by_country[country] = self.by_country.get(country, 0) + step
        if domain is not None:
            self.by_group[domain] = self.by_group.get(domain, 0) + step

    def _move_group(self, domain: str | None, step: int) -> None:
        if domain is not None:
            self.by_group[domain] = self.by_group.get(domain, 0) + step

    def is_live(self, index: int) -> bool:
        return 0 <= index < self.size and self.states[index] == LIVE

    def live_by_country(self) -> dict[str, int]:
        """The count by country, sorted, without the zeros removals leave."""
        return {k: v for k, v in sorted(self.by_country.items()) if v}

    def live_by_group(self) -> dict[str, int]:
        """The count by supporter group's domain, sorted, without the zeros removals leave."""
        return {k: v for k, v in sorted(self.by_group.items()) if v}

    def summary(self) -> dict[str, object]:
        """The counts, as JSON would hold them."""
        return {
            "size": self.size,
            "count": self.count,
            "by_country": self.live_by_country(),
            "by_group": self.live_by_group(),
        }


def replay(entries: Iterable[bytes]) -> Tally:
    """The counts that a log's entries add up to."""
    tally = Tally()
    for data in entries:
        tally.apply(data)
    return tally
