"""Extensions, created unbound here and bound to the app in the factory."""

from typing import TYPE_CHECKING, Any, ClassVar, cast

from flask import Flask, current_app
from flask_babel import Babel, Domain, lazy_gettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

if TYPE_CHECKING:
    from werkzeug.local import LocalProxy


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same everywhere."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    if TYPE_CHECKING:
        # SQLAlchemy types a model's table as any FromClause; every model here declares its
        # columns, so each is mapped to a Table (what insert() and update() take).
        __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)
# The models' base class: db.Model, which is Base with Flask-SQLAlchemy's mixins (bind key,
# table name, repr). Its type is made at run time, so the type checker is given Base, which
# declares every column and the constructor the models rely on.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()


class _CataloguesPerApp(Domain):
    """Flask-Babel's message domain, its loaded catalogues kept per application.

    Flask-Babel keeps them in one Domain of the Babel object, which every application made in a
    process shares (the tests make many, some with their own BABEL_TRANSLATION_DIRECTORIES): the
    first application to load a language would hand its catalogue to all the others.
    """

    def get_translations_cache(self, ctx: object) -> dict[tuple[str, str], Any]:
        cache: dict[tuple[str, str], Any] = current_app.extensions.setdefault("babel_catalogues", {})
        return cache


# Bound with its locale selector (web/i18n.py) by the factory.
babel = Babel()
babel.domain_instance = _CataloguesPerApp()  # type: ignore[no-untyped-call]  # Flask-Babel is not annotated


def N_(message: str) -> str:
    """Mark a message id for the catalogues (pybabel's keyword N_) where gettext translates it later."""
    return message


def lazy_text(message: str, **variables: Any) -> str:
    """A message translated when it is shown, in the language of that page (pybabel's keyword _l).

    For texts made once, at import: form labels and validation messages, module constants. It
    is Flask-Babel's lazy string, typed as the str it stands for (WTForms takes str).
    """
    return cast(str, lazy_gettext(message, **variables))


# Limits come from the settings (RATELIMIT_*), stored where RATELIMIT_STORAGE_URI says:
# Redis when REDIS_URL is set, so every process and machine shares them.
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, strategy="moving-window")


@limiter.request_filter
def _press_reads() -> bool:
    """The read-only press endpoints carry no limits (caches in front take their load): their
    answers are cheap, and the limiter's per-request work would be a large part of their cost."""
    from flask import request

    return request.blueprint in ("api", "press") and request.method in ("GET", "HEAD")


def current_app_object() -> Flask:
    """The app behind `current_app`, for work that goes on outside the app context (threads, loops)."""
    # Flask types current_app as the app itself; it is a proxy, and this is how a proxy is unwrapped.
    return cast("LocalProxy[Flask]", current_app)._get_current_object()
