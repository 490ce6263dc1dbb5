"""Signed notes and checkpoints against the published examples.

The PeterNeumann and EnochRoot keys and notes are the example of Go's golang.org/x/mod/sumdb/note
(its package documentation and tests); example.com/foo is the worked example of C2SP signed-note.
Ed25519 signatures are deterministic, so signing the example text must give the example bytes.
"""

from __future__ import annotations

import pytest

from petitions.infra.tlog import merkle, note

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def test_the_go_example_key_signs_the_go_example_note_byte_for_byte() -> None:
    signer = note.parse_signer_key(PETER_SKEY)
    assert str(signer) == PETER_SKEY
    assert str(signer.verifier) == PETER_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert note.sign_note(TEXT, signer) == TEXT + "\n" + PETER_SIG
    opened = note.open_note((TEXT + "\n" + PETER_SIG).encode(), note.parse_verifier_key(PETER_VKEY))
    assert opened.text == TEXT
    assert opened.signed_by == ("PeterNeumann",)


def test_the_c2sp_example_note_verifies() -> None:
    verifier = note.parse_verifier_key(FOO_VKEY)
    assert str(verifier) == FOO_VKEY
    assert verifier.key_id == note.key_id("example.com/foo", verifier.public_key)
    assert note.open_note(FOO_NOTE, verifier).text == "This is an example message.\n"
    with pytest.raises(note.NoteError, match="does not verify"):
        note.open_note(FOO_NOTE.replace("example message", "example massage"), verifier)


def test_unknown_signers_are_ignored_and_known_ones_must_verify() -> None:
    peter, enoch = note.parse_verifier_key(PETER_VKEY), note.parse_verifier_key(ENOCH_VKEY)
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert note.open_note(both, peter).signed_by == ("PeterNeumann",)
    assert note.open_note(both, peter, enoch).signed_by == ("PeterNeumann", "EnochRoot")
    with pytest.raises(note.NoteError, match="not signed by the expected key"):
        note.open_note(TEXT + "\n" + ENOCH_SIG, peter)
    # The same name with another key id is another key: ignored, so nothing known signed.
    other = note.Verifier("PeterNeumann", bytes.fromhex("00000000"), peter.public_key)
    with pytest.raises(note.NoteError, match="not signed by the expected key"):
        note.open_note(both, other)
    # A known key's signature over other text rejects the note.
    with pytest.raises(note.NoteError, match="PeterNeumann .* does not verify"):
        note.open_note(TEXT.replace("answer", "amswer") + "\n" + PETER_SIG, peter)


@pytest.mark.parametrize(
    "bad",
    [
        TEXT + PETER_SIG,  # no blank line
        TEXT + "\n",  # no signatures
        TEXT + "\n" + PETER_SIG.rstrip("\n"),  # no final newline
        TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
        TEXT + "\n" + PETER_SIG.replace("x08go", "x08g\x01"),
        TEXT + "\n" + "\u2014 PeterNeumann AAAA\n",  # too short for a key id and a signature
        TEXT + "\n" + "\u2014 PeterNeumann not*base64\n",
        "a\tb\n\n" + PETER_SIG,  # a control character
    ],
)
def test_malformed_notes_are_refused(bad: str) -> None:
    with pytest.raises(note.NoteError):
        note.open_note(bad, note.parse_verifier_key(PETER_VKEY))


def test_a_note_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(note.NoteError, match="UTF-8"):
        note.open_note(b"\xff\n\n" + PETER_SIG.encode(), note.parse_verifier_key(PETER_VKEY))


def _manglings(key: str) -> list[str]:
    """Every proper substring and every one-byte increment of a key, as Go's note tests try them."""
    out = [key[i:j] for i in range(len(key)) for j in range(i + 1, len(key) + 1) if (i, j) != (0, len(key))]
    out += [key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))]
    return out


def test_mangled_keys_are_refused() -> None:
    for bad in _manglings(PETER_VKEY):
        with pytest.raises(note.NoteError):
            note.parse_verifier_key(bad)
    for bad in _manglings(PETER_SKEY):
        # Trimming spaces is the one tolerance; no mangling here is only whitespace.
        with pytest.raises(note.NoteError):
            note.parse_signer_key(bad)
    # Go's wrong-length and unknown-algorithm keys, with key ids adjusted to match.
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(note.NoteError):
            note.parse_verifier_key(bad)


def test_generated_keys_round_trip() -> None:
    signer = note.generate_key("petitions.example.org")
    assert note.parse_signer_key(str(signer)) == signer
    verifier = note.parse_verifier_key(str(signer.verifier))
    assert verifier == signer.verifier
    assert str(signer).startswith("PRIVATE+KEY+petitions.example.org+")
    assert note.open_note(note.sign_note("hello\n", signer), verifier).text == "hello\n"
    for name in ("", "a b", "a+b", "tab\tname", "no\u00a0break"):
        with pytest.raises(note.NoteError):
            note.generate_key(name)


def test_checkpoints_round_trip_and_name_their_log() -> None:
    signer = note.generate_key("petitions.example.org")
    origin = note.log_origin("https://petitions.example.org", "save-the-park")
    assert origin == "petitions.example.org/petitions/save-the-park"
    cp = note.Checkpoint(origin, 20852163, merkle.leaf_hash(b"x"), ("extension",))
    signed = note.sign_checkpoint(cp, signer)
    assert signed.startswith(f"{origin}\n20852163\n{cp.root_b64}\nextension\n\n\u2014 petitions.example.org ")
    assert note.open_checkpoint(signed, signer.verifier, origin) == cp
    with pytest.raises(note.NoteError, match="is for the log"):
        note.open_checkpoint(signed, signer.verifier, "petitions.example.org/petitions/other")
    other = note.generate_key("petitions.example.org")
    with pytest.raises(note.NoteError, match="not signed by the expected key"):
        note.open_checkpoint(signed, other.verifier, origin)


def test_the_spec_example_checkpoint_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = note.parse_checkpoint(text)
    assert (cp.origin, cp.size, cp.root_b64, cp.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
        (),
    )
    assert cp.text() == text


@pytest.mark.parametrize(
    "text",
    [
        "origin\n5\n",
        "origin\n05\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n-5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx=\n",
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\nextension\n",
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
        "\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(note.NoteError):
        note.parse_checkpoint(text)


def test_key_names_come_from_the_base_url() -> None:
    assert note.key_name("https://Petitions.Example.org") == "petitions.example.org"
    assert note.key_name("http://127.0.0.1:5000") == "127.0.0.1:5000"
    with pytest.raises(note.NoteError):
        note.key_name("not a url")
