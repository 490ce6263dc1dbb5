"""The petition platform: create_app builds the Flask application.

Flask and the rest are imported inside the functions, so that importing a light module of the
package (the standalone log verifier, `python -m petitions.verify`) needs none of them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application; settings from the defaults, instance folder, environment, then test_config."""
    from flask import Flask

    from petitions import config

    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    config.load(app, test_config)
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_hooks(app)
    return app


def register_logging(app: Flask) -> None:
    """Log at INFO to stderr, as text or one JSON object per line (LOG_FORMAT), unless the host set up
    logging already (gunicorn.conf.py does, in the same format)."""
    if not logging.getLogger().handlers:
        if app.config["LOG_FORMAT"] == "json":
            from petitions.infra.logs import JSONFormatter

            handler = logging.StreamHandler()
            handler.setFormatter(JSONFormatter())
            logging.basicConfig(level=logging.INFO, handlers=[handler])
        else:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def register_extensions(app: Flask) -> None:
    """Bind the extensions to this app."""
    from flask_babel import lazy_gettext
    from sqlalchemy import select

    from petitions import models
    from petitions.counting import rules  # noqa: F401  (declares LOG_OUT_OF_SYNC, an index built from a count rule)
    from petitions.extensions import csrf, db, limiter, login_manager, migrate
    from petitions.infra import database
    from petitions.web import i18n, microcache

    microcache.init_app(app)
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Trust exactly as many X-Forwarded-* hops as there are proxies; a client cannot forge more.
        n = app.config["PROXY_COUNT"]
        # Flask's way to add WSGI middleware is to replace this method; mypy flags any method assignment.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    limiter.init_app(app)
    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Please sign in to continue.")

    @login_manager.user_loader
    def load_user(session_token: str) -> models.User | None:
        # The session names its account by the account's session token (User.get_id), which
        # changes on sign-out and with the password: an old cookie finds nobody.
        return db.session.scalar(select(models.User).where(models.User.session_token == session_token))


def register_blueprints(app: Flask) -> None:
    """One blueprint per audience."""
    from petitions.extensions import csrf
    from petitions.web.account import bp as account_bp
    from petitions.web.admin import bp as admin_bp
    from petitions.web.auth import bp as auth_bp
    from petitions.web.campaign import bp as campaign_bp
    from petitions.web.press import api_bp
    from petitions.web.press import bp as press_bp
    from petitions.web.public import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(campaign_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(press_bp)
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)


def register_hooks(app: Flask) -> None:
    """Error pages, security headers, template helpers and CLI commands."""
    from flask_babel import get_locale

    from petitions import cli
    from petitions.extensions import csrf
    from petitions.infra import live
    from petitions.infra.countries import country_names
    from petitions.infra.text import one_line
    from petitions.transparency import keys
    from petitions.web import errors, metrics, security
    from petitions.web.forms import LogoutForm

    errors.init_app(app)
    live.init_app(app)
    security.init_app(app)
    metrics.init_app(app)
    cli.init_app(app)
    keys.init_app(app)
    _ = csrf

    @app.context_processor
    def template_helpers() -> dict[str, Any]:
        # Country names in the page's language (Babel's CLDR names): pages, the dashboard, the verify page.
        return {"country_names": country_names(str(get_locale() or "en")), "logout_form": LogoutForm}

    # Names and titles written into emails, also those stored before forms folded them.
    app.add_template_filter(one_line, "one_line")
