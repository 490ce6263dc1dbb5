"""Views of the campaigner's account: their petitions, and the settings (name, email, password, sessions,
deleting the account)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions.accounts import operations
from petitions.campaigns import stats
from petitions.clock import utcnow
from petitions.exceptions import EmailTaken, TokenExpired, TokenInvalid
from petitions.extensions import db
from petitions.extensions import lazy_text as _l
from petitions.models import Petition, User
from petitions.web import i18n
from petitions.web.account import bp
from petitions.web.account.forms import (
    CancelForm,
    DeleteAccountForm,
    EmailChangeForm,
    LanguageForm,
    NameForm,
    PasswordChangeForm,
    SignOutEverywhereForm,
)
from petitions.web.fields import required_value
from petitions.web.pages import link_error

NOT_CURRENT = _l("That is not your current password.")
BAD_EMAIL = _l("Please enter a valid email address, like name@example.org.")


def _user() -> User:
    """The signed-in account itself, not Flask-Login's proxy (the session may need to delete it)."""
    user: User = current_user._get_current_object()
    return user


def _settings_page(status: int = 200, **bound: FlaskForm) -> tuple[str, int]:
    """The settings page; the forms not named in `bound` start fresh, never reading this request's data."""
    forms: dict[str, Any] = {
        "name_form": NameForm(formdata=None, prefix="profile", data={"name": current_user.name}),
        "language_form": LanguageForm(formdata=None, prefix="language", data={"locale": current_user.locale or ""}),
        "email_form": EmailChangeForm(formdata=None, prefix="email"),
        "password_form": PasswordChangeForm(formdata=None, prefix="password"),
        "delete_form": DeleteAccountForm(formdata=None, prefix="delete"),
        "cancel_form": CancelForm(formdata=None, prefix="cancel"),
        "sessions_form": SignOutEverywhereForm(formdata=None, prefix="sessions"),
    }
    forms.update(bound)
    return render_template("account/settings.html", **forms), status


@bp.get("/account")
@login_required
def index() -> str:
    """The campaigner's petitions with their confirmed and pending counts."""
    pending = stats.pending_counts(owner_id=current_user.id)
    petitions = db.session.scalars(
        select(Petition).where(Petition.owner_id == current_user.id).order_by(Petition.created_at.desc())
    ).all()
    return render_template("account/index.html", petitions=petitions, pending=pending, now=utcnow())


@bp.get("/account/settings")
@login_required
def settings() -> tuple[str, int]:
    """Name, email address, password, signing out everywhere else, and deleting the account."""
    return _settings_page()


@bp.post("/account/name")
@login_required
def change_name() -> Response | tuple[str, int]:
    """Change the account's name."""
    form = NameForm(prefix="profile")
    if not form.validate_on_submit():
        return _settings_page(422, name_form=form)
    operations.change_name(_user(), required_value(form.name))
    db.session.commit()
    flash(_("Your name is saved."), "success")
    return redirect(url_for(".settings"), 303)


@bp.post("/account/language")
@login_required
def change_language() -> Response | tuple[str, int]:
    """Choose the interface language of the account, or leave it to the browser."""
    form = LanguageForm(prefix="language")
    if not form.validate_on_submit():
        return _settings_page(422, language_form=form)
    operations.change_locale(_user(), form.locale.data or None)
    db.session.commit()
    flash(_("Your language is saved."), "success")
    response = redirect(url_for(".settings"), 303)
    # The cookie of an earlier ?lang= comes before the account: it follows the new choice, or goes.
    i18n.set_language_cookie(response, form.locale.data or None)
    return response


@bp.post("/account/email")
@login_required
def change_email() -> Response | tuple[str, int]:
    """Ask to move the account to a new address; the same answer whether or not the address has an account."""
    form = EmailChangeForm(prefix="email")
    if not form.validate_on_submit():
        return _settings_page(422, email_form=form)
    try:
        address = operations.request_email_change(
            _user(), required_value(form.new_email), required_value(form.password), now=utcnow()
        )
    except operations.WrongPassword:
        form.password.errors = [NOT_CURRENT]
    except operations.SameEmail:
        form.new_email.errors = [_("That is your email address already.")]
    except ValueError:
        form.new_email.errors = [BAD_EMAIL]
    else:
        db.session.commit()
        flash(
            _("We have sent a link to %(address)s. Your email address changes when you open it.", address=address),
            "info",
        )
        return redirect(url_for(".settings"), 303)
    db.session.rollback()
    return _settings_page(422, email_form=form)


@bp.post("/account/email/cancel")
@login_required
def cancel_email_change() -> Response:
    """Forget the new address waiting for confirmation."""
    if CancelForm(prefix="cancel").validate_on_submit() and current_user.pending_email:
        operations.cancel_email_change(_user())
        db.session.commit()
        flash(_("The change of email address is cancelled; the link we sent no longer works."), "info")
    return redirect(url_for(".settings"), 303)


@bp.get("/confirm-email/<token>")
def confirm_email_change(token: str) -> Response:
    """Open the link sent to the new address: from now on the account uses it."""
    try:
        user = operations.confirm_email_change(token, now=utcnow())
    except TokenExpired:
        return link_error("email", "expired", 410)
    except TokenInvalid:
        return link_error("email", "invalid", 404)
    except EmailTaken:
        return link_error("email", "taken", 409)
    db.session.commit()
    flash(_("Your email address is now %(email)s.", email=user.email), "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for(".settings"), 303)
    return redirect(url_for("auth.login"), 303)


@bp.post("/account/password")
@login_required
def change_password() -> Response | tuple[str, int]:
    """Change the password, given the current one."""
    form = PasswordChangeForm(prefix="password")
    if not form.validate_on_submit():
        return _settings_page(422, password_form=form)
    try:
        operations.change_password(
            _user(), required_value(form.current_password), required_value(form.new_password), now=utcnow()
        )
    except operations.WrongPassword:
        db.session.rollback()
        form.current_password.errors = [NOT_CURRENT]
        return _settings_page(422, password_form=form)
    db.session.commit()
    login_user(_user())  # every other session ended with the old password; this one goes on
    flash(_("Your password is changed. You are signed out everywhere else."), "success")
    return redirect(url_for(".settings"), 303)


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Response:
    """Sign out everywhere else: every other session (and any copy of this one's cookie) ends; this one goes on."""
    if SignOutEverywhereForm(prefix="sessions").validate_on_submit():
        user = _user()
        operations.end_sessions(user)
        db.session.commit()
        login_user(user)  # this browser is signed in again with the new token
        flash(_("You are signed out everywhere else."), "success")
    return redirect(url_for(".settings"), 303)


@bp.post("/account/delete")
@login_required
def delete() -> Response | tuple[str, int]:
    """Delete the account; its petitions stay online, the open ones closed; the campaigner is signed out."""
    form = DeleteAccountForm(prefix="delete")
    if not form.validate_on_submit():
        return _settings_page(422, delete_form=form)
    try:
        operations.delete_account(_user(), required_value(form.password), now=utcnow())
    except operations.WrongPassword:
        db.session.rollback()
        form.password.errors = [NOT_CURRENT]
        return _settings_page(422, delete_form=form)
    db.session.commit()
    logout_user()
    flash(_("Your account is deleted. Your petitions stay online, closed, with their signatures."), "info")
    return redirect(url_for("public.index"), 303)
