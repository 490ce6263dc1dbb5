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
        cwd=root, env=env, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr
