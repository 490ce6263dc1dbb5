"""C2SP signed notes with Ed25519, and C2SP tlog-checkpoints.

Keys are written as Go's golang.org/x/mod/sumdb/note writes them:
- signer key:   PRIVATE+KEY+<name>+<key id, 8 hex>+<base64(0x01 || 32-byte Ed25519 seed)>
- verifier key: <name>+<key id, 8 hex>+<base64(0x01 || 32-byte Ed25519 public key)>
with key id = SHA-256(name || 0x0A || 0x01 || public key)[:4].

A signed note is its text (ending in a newline), a blank line, then lines
"— <name> <base64(key id || signature)>". Signatures by keys the reader does not know are
ignored; a known key whose signature fails rejects the note, and so does a note that no known
key signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
EM_DASH = "\u2014"
# The spec asks verifiers to accept at least 16 signatures; more than this is not a note we wrote.
MAX_SIGNATURES = 100
MAX_NOTE_SIZE = 1 << 20


class NoteError(ValueError):
    """A key, note or checkpoint is malformed, or its signature does not verify."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not valid base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_key_name(name: str) -> str:
    """A key name: not empty, no spaces (Unicode ones included), no '+'."""
    if not name or "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise NoteError(f"{name!r} is not a valid key name")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A verifier key: a name, its key id and the Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A signer key: a name, its key id and the Ed25519 seed."""

    name: str
    key_id: bytes
    seed: bytes

    def __str__(self) -> str:
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{_b64(bytes([ED25519]) + self.seed)}"

    @property
    def verifier(self) -> Verifier:
        public = _raw_public(Ed25519PrivateKey.from_private_bytes(self.seed).public_key())
        return Verifier(self.name, self.key_id, public)

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def _split_key(text: str, parts: int, what: str) -> list[str]:
    # The base64 at the end may hold '+' itself.
    fields = text.split("+", parts - 1)
    if len(fields) != parts:
        raise NoteError(f"{what} has {len(fields)} '+'-separated fields, expected {parts}")
    return fields


def _key_material(name: str, id_hex: str, encoded: str, what: str) -> bytes:
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
        raise NoteError(f"{what}: the key id {id_hex!r} is not 8 lower-case hex digits")
    raw = _b64decode(encoded, what)
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError(f"{what} is not an Ed25519 key (type byte 0x01 and 32 bytes)")
    return raw[1:]


def parse_verifier_key(text: str) -> Verifier:
    """<name>+<key id>+<base64(0x01 || public key)>."""
    name, id_hex, encoded = _split_key(text.strip(), 3, "the verifier key")
    public = _key_material(name, id_hex, encoded, "the verifier key")
    if key_id(name, public).hex() != id_hex:
        raise NoteError("the verifier key's id does not match its name and public key")
    return Verifier(name, bytes.fromhex(id_hex), public)


def parse_signer_key(text: str) -> Signer:
    """PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>."""
    fields = _split_key(text.strip(), 5, "the signer key")
    if fields[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("a signer key starts with PRIVATE+KEY+")
    name, id_hex, encoded = fields[2:]
    seed = _key_material(name, id_hex, encoded, "the signer key")
    public = _raw_public(Ed25519PrivateKey.from_private_bytes(seed).public_key())
    if key_id(name, public).hex() != id_hex:
        raise NoteError("the signer key's id does not match its name and key")
    return Signer(name, bytes.fromhex(id_hex), seed)


def generate_key(name: str) -> Signer:
    """A new Ed25519 signer key; str(signer) is the signer key, str(signer.verifier) the verifier key."""
    check_key_name(name)
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    return Signer(name, key_id(name, _raw_public(private.public_key())), seed)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    if any(c < " " and c != "\n" for c in text):
        raise NoteError("a note holds no control characters other than newlines")


def sign_note(text: str, *signers: Signer) -> str:
    """The text with one signature line per signer."""
    _check_text(text)
    if not signers:
        raise NoteError("a note needs at least one signer")
    lines = [f"{EM_DASH} {s.name} {_b64(s.key_id + s.sign(text.encode()))}\n" for s in signers]
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class Opened:
    """A verified note: its text, and the names of the known keys whose signatures checked out."""

    text: str
    signed_by: tuple[str, ...]


def open_note(note: bytes | str, *verifiers: Verifier) -> Opened:
    """Verify a signed note against the known verifier keys and return its text."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_SIZE:
            raise NoteError("the note is too large")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("the note is not valid UTF-8") from None
    if len(note) > MAX_NOTE_SIZE:
        raise NoteError("the note is too large")
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no blank line before its signatures")
    text, lines = note[: split + 1], note[split + 2 :].splitlines()
    if not lines:
        raise NoteError("the note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("the note has too many signatures")
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = []
    for line in lines:
        match = re.fullmatch(f"{EM_DASH} (\\S+) (\\S+)", line)
        if match is None:
            raise NoteError(f"malformed signature line {line!r}")
        name, encoded = match.groups()
        raw = _b64decode(encoded, f"the signature by {name}")
        if len(raw) < 5:
            raise NoteError(f"the signature by {name} is too short")
        verifier = known.get((name, raw[:4]))
        if verifier is None:
            continue  # another key (a witness, a rotated key): not ours to judge
        if not verifier.verify(text.encode(), raw[4:]):
            raise NoteError(f"the signature by {name} (key {raw[:4].hex()}) does not verify: the note was altered")
        verified.append(name)
    if not verified:
        names = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in verifiers)
        raise NoteError(f"the note is not signed by the expected key ({names})")
    return Opened(text, tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement: its origin, tree size and root hash, and any extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def root_b64(self) -> str:
        return _b64(self.root)

    def text(self) -> str:
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), self.root_b64, *self.extensions))

    def same_tree(self, other: Checkpoint) -> bool:
        return self.size == other.size and hmac.compare_digest(self.root, other.root)


def parse_checkpoint(text: str) -> Checkpoint:
    """The three lines of a checkpoint and its extension lines (from a note's verified text)."""
    if not text.endswith("\n"):
        raise NoteError("a checkpoint ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("a checkpoint is at least three non-empty lines: origin, tree size, root hash")
    origin, size, root = lines[:3]
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size) or int(size) >= 1 << 64:
        raise NoteError(f"the checkpoint's tree size {size!r} is not a decimal number")
    raw = _b64decode(root, "the checkpoint's root hash")
    if len(raw) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(origin, int(size), raw, tuple(lines[3:]))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a note signed by the log's key."""
    if not checkpoint.origin or any(c.isspace() for c in checkpoint.origin):
        raise NoteError(f"{checkpoint.origin!r} is not a checkpoint origin")
    return sign_note(checkpoint.text(), signer)


def open_checkpoint(note: bytes | str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint with the log's key, and that it names the expected origin."""
    checkpoint = parse_checkpoint(open_note(note, verifier).text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is for the log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def key_name(base_url: str) -> str:
    """The log key's name: the host (and port, if any) of the site's BASE_URL."""
    host = urlsplit(base_url).netloc.rpartition("@")[2].lower()
    return check_key_name(host)


def log_origin(base_url: str, slug: str) -> str:
    """The origin line of a petition's log: <host of BASE_URL>/petitions/<slug>."""
    return f"{key_name(base_url)}/petitions/{slug}"
