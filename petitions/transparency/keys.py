"""The key that signs every petition's checkpoints: LOG_SIGNING_KEY, or in development one made once.

The key is a C2SP note signer key (PRIVATE+KEY+<name>+<key id>+<base64>); its verifier key is
served at /log/key. Its name is the host of BASE_URL (note.key_name). Production refuses to
start without it (config.py); development writes one to instance/log-signing.key (mode 0600)
the first time a log is signed or its key asked for, and reads it back ever after, so the
logs of a development database stay verifiable across restarts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from flask import Flask, current_app

from petitions.config import ConfigError
from petitions.infra.tlog import note

KEY_FILE = "log-signing.key"
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Read LOG_SIGNING_KEY and LOG_RETIRED_KEYS at start, so a malformed key stops the application with a
    clear message."""
    app.extensions["log_retired_keys"] = _retired_keys(app.config.get("LOG_RETIRED_KEYS") or "")
    text = app.config.get("LOG_SIGNING_KEY")
    app.extensions.pop("log_signer", None)
    if not text:
        return
    try:
        key = app.extensions["log_signer"] = note.parse_signer_key(text)
    except note.NoteError as exc:
        raise ConfigError(
            f"LOG_SIGNING_KEY is not a note signer key ({exc}); make one with: flask --app app log-keygen <host>"
        ) from None
    try:
        host = note.key_name(app.config["BASE_URL"])
    except note.NoteError:
        return
    if key.name != host:
        # Still a valid key, and verifiers take the key /log/key serves; but the contract names the
        # key after the site, and a reader comparing the signature line with the address would wonder.
        log.warning("LOG_SIGNING_KEY is named %r, not %r (the host of BASE_URL) as logs' keys are", key.name, host)


def signer() -> note.Signer:
    """The key that signs checkpoints."""
    app = current_app
    key: note.Signer | None = app.extensions.get("log_signer")
    if key is None:
        key = app.extensions["log_signer"] = development_key(Path(app.instance_path), app.config["BASE_URL"])
    return key


def verifier() -> note.Verifier:
    """The verifier key anyone checks the checkpoints with (served at /log/key)."""
    return signer().verifier


def retired() -> list[note.Verifier]:
    """The verifier keys of earlier signing keys (LOG_RETIRED_KEYS), oldest first as configured."""
    keys: list[note.Verifier] = current_app.extensions.get("log_retired_keys", [])
    return keys


def _retired_keys(text: str) -> list[note.Verifier]:
    found = []
    for item in text.replace(",", " ").split():
        try:
            found.append(note.parse_verifier_key(item))
        except note.NoteError as exc:
            raise ConfigError(
                f"LOG_RETIRED_KEYS: {item[:60]!r} is not a note verifier key ({exc}); give the old keys as"
                " /log/key served them (name+id+base64), separated by spaces or commas"
            ) from None
    return found


def generate(name: str) -> note.Signer:
    """A new signer key named `name` (log-keygen); NoteError for a name a key cannot have."""
    return note.generate_key(name)


def development_key(instance: Path, base_url: str) -> note.Signer:
    """The development key in the instance folder, made the first time (named for BASE_URL's host)."""
    path = instance / KEY_FILE
    try:
        return note.parse_signer_key(path.read_text())
    except FileNotFoundError:
        pass
    instance.mkdir(parents=True, exist_ok=True)
    key = note.generate_key(note.key_name(base_url))
    # Written whole under another name, then linked into place: a process starting at the same
    # moment reads either no file or the whole key, and the first link wins for both.
    draft = instance / f".{KEY_FILE}.{secrets.token_hex(8)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{key}\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
    return note.parse_signer_key(path.read_text())
