"""Views of registering, confirming an account's address, signing in and out, and resetting a password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from petitions.accounts import operations
from petitions.clock import utcnow
from petitions.exceptions import EmailTaken, TokenExpired, TokenInvalid
from petitions.extensions import db
from petitions.extensions import lazy_text as _l
from petitions.web.auth import bp
from petitions.web.auth.forms import ForgotPasswordForm, LoginForm, RegisterForm, ResetPasswordForm
from petitions.web.fields import required_value
from petitions.web.forms import LogoutForm
from petitions.web.pages import limit, link_error, private

BAD_EMAIL = _l("Please enter a valid email address, like name@example.org.")


def safe_next(target: str | None) -> str | None:
    """The target if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/register", methods=["GET", "POST"])
@limit("RATELIMIT_REGISTER")
def register() -> Response | tuple[str, int] | str:
    """Create an account; the same answer whether or not the address already has one."""
    form = RegisterForm()
    if not form.validate_on_submit():
        return render_template("auth/register.html", form=form), (422 if request.method == "POST" else 200)
    now = utcnow()
    try:
        operations.register(
            required_value(form.name), required_value(form.email), required_value(form.password), now=now
        )
    except EmailTaken:
        operations.warn_existing(required_value(form.email), now=now)
    except ValueError:
        form.email.errors = [BAD_EMAIL]
        return render_template("auth/register.html", form=form), 422
    db.session.commit()
    return redirect(url_for(".registered"), 303)


@bp.get("/register/sent")
def registered() -> str:
    """'Check your email' after registering."""
    return render_template("auth/registered.html")


@bp.get("/confirm-account/<token>")
def confirm_account(token: str) -> Response | tuple[str, int]:
    """Confirm the account's address; its drafts open."""
    try:
        user = operations.confirm_account(token, now=utcnow())
    except TokenExpired:
        return render_template("auth/confirm_error.html", reason="expired"), 410
    except TokenInvalid:
        return render_template("auth/confirm_error.html", reason="invalid"), 404
    db.session.commit()
    flash(_("Your email address is confirmed."), "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for("account.index"), 303)
    return redirect(url_for(".login"), 303)


@bp.post("/account/resend-confirmation")
@login_required
def resend_confirmation() -> Response:
    """Send the account confirmation email again."""
    if not current_user.email_confirmed:
        operations.send_confirmation(current_user, now=utcnow())
        db.session.commit()
        flash(_("We have sent the confirmation email again."), "info")
    return redirect(url_for("account.index"), 303)


@bp.route("/login", methods=["GET", "POST"])
@limit("RATELIMIT_LOGIN")
def login() -> Response | tuple[str, int] | str:
    """Sign in with email and password."""
    form = LoginForm()
    if form.validate_on_submit():
        user = operations.authenticate(required_value(form.email), required_value(form.password))
        if user is not None:
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("account.index"), 303)
        form.password.errors = [_("That email address and password do not match an account.")]
        return render_template("auth/login.html", form=form), 422
    return render_template("auth/login.html", form=form), (422 if request.method == "POST" else 200)


@bp.post("/logout")
def logout() -> Response:
    """Sign out (a POST with a CSRF token, so no other site can sign anyone out).

    The account's session token changes, so no copy of this session's cookie opens it again;
    its other sessions end too, since a session holds nothing of its own to revoke.
    """
    form = LogoutForm()
    if form.validate_on_submit():
        if current_user.is_authenticated:
            operations.end_sessions(current_user._get_current_object())
            db.session.commit()
        logout_user()
        flash(_("You are signed out."), "info")
    return redirect(url_for("public.index"), 303)


@bp.route("/forgot-password", methods=["GET", "POST"])
@limit("RATELIMIT_PASSWORD_RESET")
def forgot_password() -> Response | tuple[str, int]:
    """Ask for a reset link; the same answer whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            operations.request_password_reset(required_value(form.email), now=utcnow())
        except ValueError:
            form.email.errors = [BAD_EMAIL]
        else:
            db.session.commit()
            return redirect(url_for(".forgot_password_sent"), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/forgot_password.html", form=form), status


@bp.get("/forgot-password/sent")
def forgot_password_sent() -> str:
    """'If an account has that address, we have sent it a link.'"""
    return render_template("auth/forgot_password_sent.html")


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Response:
    """Choose a new password through the emailed link; then the campaigner is signed in."""
    now = utcnow()
    try:
        operations.check_password_reset(token, now=now)
    except TokenExpired:
        return link_error("reset", "expired", 410)
    except operations.TokenUsed:
        return link_error("reset", "used", 410)
    except TokenInvalid:
        return link_error("reset", "invalid", 404)
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return private(render_template("auth/reset_password.html", form=form), status)
    try:
        user = operations.reset_password(token, required_value(form.password), now=now)
    except operations.TokenUsed:  # another request used the link a moment ago
        return link_error("reset", "used", 410)
    except TokenInvalid:  # the account went away a moment ago
        return link_error("reset", "invalid", 404)
    db.session.commit()
    login_user(user)
    flash(_("Your password is changed and you are signed in."), "success")
    return redirect(url_for("account.index"), 303)
