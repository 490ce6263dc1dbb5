"""Settings: production refuses to start without a secret; bad values are explained."""

import pytest

from petitions import create_app
from petitions.config import ConfigError


def test_production_requires_a_secret_key(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})


def test_bad_settings_are_explained(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MODERATION", "sometimes")
    with pytest.raises(ConfigError, match="MODERATION"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x"})
    monkeypatch.setenv("MODERATION", "pre")
    monkeypatch.setenv("MAIL_PORT", "twenty-five")
    with pytest.raises(ConfigError, match="MAIL_PORT must be a whole number"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x"})


@pytest.mark.parametrize("sender", ["Acme, Inc <no-reply@example.org>", "no-reply", "a@example.org, b@example.org", ""])
def test_a_sender_address_mail_could_not_go_out_from_is_refused(tmp_path, sender) -> None:
    with pytest.raises(ConfigError, match="MAIL_DEFAULT_SENDER must be one address"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x", "MAIL_DEFAULT_SENDER": sender})


def test_a_sender_with_a_quoted_or_accented_name_is_taken(tmp_path) -> None:
    for sender in [
        '"Acme, Inc" <no-reply@example.org>',
        "Pétitions Citoyennes <no-reply@example.org>",
        "no-reply@example.org",
    ]:
        app = create_app(
            {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x", "MAIL_DEFAULT_SENDER": sender}
        )
        assert app.config["MAIL_DEFAULT_SENDER"] == sender


def test_environment_names_are_read(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    monkeypatch.setenv("BASE_URL", "https://petitions.example.org/")
    monkeypatch.setenv("MAIL_USE_TLS", "true")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert app.config["BASE_URL"] == "https://petitions.example.org"
    assert app.config["MAIL_USE_TLS"] is True
    assert app.config["SECRET_KEY"] == "from-env"


def test_each_database_pool_keeps_a_connection_per_thread(monkeypatch, postgres_url) -> None:
    """No busy thread opens a connection that its pool then closes: both pools of a process keep as
    many as it has threads (GUNICORN_THREADS), or DATABASE_POOL_SIZE."""
    from petitions.extensions import db
    from petitions.infra import database

    monkeypatch.setenv("GUNICORN_THREADS", "12")
    app = create_app({"DATABASE_URL": postgres_url, "SECRET_KEY": "x"})
    with app.app_context():
        assert db.engine.pool.size() == 12
        assert database._statement_engine().pool.size() == 12
        db.engine.dispose()
    monkeypatch.setenv("DATABASE_POOL_SIZE", "3")
    app = create_app({"DATABASE_URL": postgres_url, "SECRET_KEY": "x"})
    with app.app_context():
        assert db.engine.pool.size() == 3
        db.engine.dispose()
    monkeypatch.setenv("DATABASE_POOL_SIZE", "0")
    with pytest.raises(ConfigError, match="DATABASE_POOL_SIZE must be at least 1"):
        create_app({"DATABASE_URL": postgres_url, "SECRET_KEY": "x"})


def test_a_mail_worker_sends_over_four_connections_on_postgresql_and_one_on_sqlite(
    monkeypatch, postgres_url, tmp_path
) -> None:
    sqlite = f"sqlite:///{tmp_path}/x.sqlite"
    assert create_app({"DATABASE_URL": postgres_url, "SECRET_KEY": "x"}).config["MAIL_SENDERS"] == 4
    assert create_app({"DATABASE_URL": sqlite, "SECRET_KEY": "x"}).config["MAIL_SENDERS"] == 1
    monkeypatch.setenv("MAIL_SENDERS", "12")  # more senders than gunicorn threads: a pooled connection for each
    app = create_app({"DATABASE_URL": postgres_url, "SECRET_KEY": "x"})
    assert app.config["MAIL_SENDERS"] == 12 and app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 12
    with pytest.raises(ConfigError, match="MAIL_SENDERS above 1 needs PostgreSQL"):
        create_app({"DATABASE_URL": sqlite, "SECRET_KEY": "x"})
    monkeypatch.setenv("MAIL_SENDERS", "0")
    with pytest.raises(ConfigError, match="MAIL_SENDERS must be at least 1"):
        create_app({"DATABASE_URL": postgres_url, "SECRET_KEY": "x"})


def test_a_chosen_pool_class_is_kept(postgres_url) -> None:
    """Behind PgBouncer one may choose NullPool (no pool in the app): no pool size is forced on it."""
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    from petitions.extensions import db
    from petitions.infra import database

    app = create_app(
        {"DATABASE_URL": postgres_url, "SECRET_KEY": "x", "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool}}
    )
    with app.app_context():
        assert isinstance(db.engine.pool, NullPool)
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        assert isinstance(database._statement_engine().pool, NullPool)
        assert database.AutocommitStatement(text("SELECT :n AS n")).first({"n": 2}).n == 2
        db.session.remove()
        db.engine.dispose()


def test_gunicorn_refuses_a_production_start_without_a_secret(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(APP_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite", GUNICORN_BIND="127.0.0.1:0")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "app:app", "-c", "gunicorn.conf.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_languages_are_checked(monkeypatch, tmp_path) -> None:
    base = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x"}
    with pytest.raises(ConfigError, match="LANGUAGES holds 'xx'"):
        create_app({**base, "LANGUAGES": "en,xx"})
    with pytest.raises(ConfigError, match="DEFAULT_LOCALE"):
        create_app({**base, "LANGUAGES": "es,fr", "DEFAULT_LOCALE": "en"})
    monkeypatch.setenv("LANGUAGES", "de, pt-BR")
    monkeypatch.setenv("DEFAULT_LOCALE", "de")
    app = create_app(base)
    assert app.config["LANGUAGES"] == ("de", "pt_BR") and app.config["BABEL_DEFAULT_LOCALE"] == "de"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IMAGE_MAX_BYTES", "0", "IMAGE_MAX_BYTES must be at least 1"),
        ("IMAGE_MAX_PIXELS", "many", "IMAGE_MAX_PIXELS must be a whole number"),
        ("CARD_MAX_AGE", "-1", "CARD_MAX_AGE must be 0 or more"),
    ],
)
def test_picture_limits_that_cannot_work_are_refused(monkeypatch, tmp_path, name, value, message) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": "x"})
