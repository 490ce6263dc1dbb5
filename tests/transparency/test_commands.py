"""The log's settings and commands: the signing key in production, log-keygen, and the worker's names."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from petitions import create_app
from petitions.clock import utcnow
from petitions.config import ConfigError
from petitions.extensions import db
from petitions.infra.tlog import note
from petitions.models import PetitionLog
from petitions.signatures import confirming, signing
from petitions.transparency import keys, sequencer
from tests.helpers import make_petition


def test_production_without_a_log_signing_key_stops_with_a_clear_message(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("LOG_SIGNING_KEY", raising=False)
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x", "BASE_URL": "https://pet.example"}
    with pytest.raises(ConfigError, match="LOG_SIGNING_KEY must be set in production") as raised:
        create_app(settings)
    assert "flask --app app log-keygen pet.example" in str(raised.value)
    assert not (tmp_path / "instance").exists()
    monkeypatch.setenv("LOG_SIGNING_KEY", str(note.generate_key("pet.example")))
    create_app(settings)  # with one, it starts


def test_a_malformed_key_or_interval_is_refused_at_start(monkeypatch, tmp_path) -> None:
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x"}
    key = str(note.generate_key("pet.example"))
    with pytest.raises(ConfigError, match="LOG_SIGNING_KEY is not a note signer key"):
        create_app({**settings, "LOG_SIGNING_KEY": key[:-4] + "AAAA"})
    with pytest.raises(ConfigError, match="LOG_SIGNING_KEY is not a note signer key"):
        create_app({**settings, "LOG_SIGNING_KEY": str(note.generate_key("pet.example").verifier)})
    monkeypatch.setenv("LOG_INTERVAL", "soon")
    with pytest.raises(ConfigError, match="LOG_INTERVAL must be a number of seconds"):
        create_app(settings)
    monkeypatch.setenv("LOG_INTERVAL", "0")
    with pytest.raises(ConfigError, match="LOG_INTERVAL must be a number of seconds above 0"):
        create_app(settings)
    monkeypatch.setenv("LOG_INTERVAL", "2.5")
    assert create_app(settings).config["LOG_INTERVAL"] == 2.5


def test_the_configured_key_signs_and_is_served(tmp_path, app, client) -> None:
    key = note.generate_key("pet.example")
    app.config["LOG_SIGNING_KEY"] = str(key)
    keys.init_app(app)
    assert client.get("/log/key").text == f"{key.verifier}\n"
    assert not (tmp_path / "instance" / keys.KEY_FILE).exists()


def signed(petition, name: str, email: str, country: str) -> None:
    data = signing.SignatureData(name, email, country)
    confirming.confirm(signing.sign(petition, data, now=utcnow(), ip=None), now=utcnow())


def test_after_a_key_rotation_the_old_key_stays_published_and_checks_the_old_checkpoints(ctx) -> None:
    app, client = ctx, ctx.test_client()
    old, new = note.generate_key("localhost"), note.generate_key("localhost")
    app.config["LOG_SIGNING_KEY"] = str(old)
    keys.init_app(app)
    petition = make_petition()
    signed(petition, "Ada", "ada@example.org", "GB")
    db.session.commit()
    sequencer.sequence_all()
    printed = db.session.scalar(select(PetitionLog.checkpoint))  # as a delivery page printed it

    app.config.update(LOG_SIGNING_KEY=str(new), LOG_RETIRED_KEYS=f"{old.verifier}")
    keys.init_app(app)
    assert client.get("/log/keys").json == {"current": str(new.verifier), "retired": [str(old.verifier)]}
    page = client.get(f"/petitions/{petition.slug}/verify").text
    assert str(old.verifier) in page and str(new.verifier) in page
    # The old checkpoint checks with the retired key as published, and not with the new one.
    published = note.parse_verifier_key(client.get("/log/keys").json["retired"][0])
    assert note.open_checkpoint(printed, published).size == 1
    with pytest.raises(note.NoteError):
        note.open_checkpoint(printed, new.verifier)
    signed(petition, "Bo", "bo@example.org", "FR")
    db.session.commit()
    sequencer.sequence_all()
    assert note.open_checkpoint(db.session.scalar(select(PetitionLog.checkpoint)), new.verifier).size == 2


def test_a_malformed_retired_key_is_refused_at_start(tmp_path) -> None:
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x"}
    with pytest.raises(ConfigError, match="LOG_RETIRED_KEYS: 'PRIVATE\\+KEY.*is not a note verifier key"):
        create_app({**settings, "LOG_RETIRED_KEYS": str(note.generate_key("pet.example"))})
    good = [str(note.generate_key("pet.example").verifier) for _ in range(2)]
    app = create_app({**settings, "LOG_RETIRED_KEYS": ", ".join(good)})
    with app.app_context():
        assert [str(k) for k in keys.retired()] == good


def test_a_key_not_named_for_the_sites_host_is_taken_with_a_warning(tmp_path, caplog) -> None:
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x", "BASE_URL": "https://pet.example"}
    create_app({**settings, "LOG_SIGNING_KEY": str(note.generate_key("pet.example"))})
    assert "LOG_SIGNING_KEY is named" not in caplog.text
    create_app({**settings, "LOG_SIGNING_KEY": str(note.generate_key("other.example"))})
    assert "LOG_SIGNING_KEY is named 'other.example', not 'pet.example'" in caplog.text


def test_log_keygen_prints_a_signer_key_and_its_verifier_key(runner) -> None:
    result = runner.invoke(args=["log-keygen", "petitions.example.org"])
    assert result.exit_code == 0, result.output
    signer_line, verifier_line = result.output.splitlines()
    signer = note.parse_signer_key(signer_line.removeprefix("LOG_SIGNING_KEY="))
    verifier = note.parse_verifier_key(verifier_line.rpartition(" ")[2])
    assert signer.name == "petitions.example.org" and signer.verifier == verifier
    signed = note.sign_checkpoint(note.Checkpoint("petitions.example.org/petitions/x", 1, b"\x01" * 32), signer)
    assert note.open_checkpoint(signed, verifier).size == 1
    refused = runner.invoke(args=["log-keygen", "has space"])
    assert refused.exit_code == 2 and "is not a valid key name" in refused.output


@pytest.mark.parametrize("command", ["worker", "mail-worker"])
def test_worker_and_its_old_name_mail_worker_append_to_the_logs_then_send(ctx, runner, mailbox, command) -> None:
    petition = make_petition()
    signature = signing.sign(petition, signing.SignatureData("Sam", "sam@example.org", "GB"), now=utcnow(), ip=None)
    confirming.confirm(signature, now=utcnow())
    db.session.commit()
    result = runner.invoke(args=[command, "--once"])
    assert result.exit_code == 0, result.output
    assert "Sent 2, failed 0." in result.output  # the confirmation email, and the receipt of the new entry
    assert db.session.scalar(select(PetitionLog.size)) == 1
    assert [m["Subject"] for m in mailbox.to("sam@example.org")][-1].startswith("Your signature is in the public log")
