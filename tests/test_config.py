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
