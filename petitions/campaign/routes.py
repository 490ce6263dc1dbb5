"""Views of accounts and of the campaigner's petitions."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from .. import accounts, campaigns
from ..clock import utcnow
from ..exceptions import EmailTaken, TokenExpired, TokenInvalid
from ..extensions import db
from ..models import Petition, Signature
from ..queries import can_manage, visible_petition_or_404
from . import bp
from .forms import LoginForm, LogoutForm, PetitionForm, RegisterForm


def safe_next(target: str | None) -> str | None:
    """The target if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/register", methods=["GET", "POST"])
def register() -> Response | tuple[str, int] | str:
    """Create an account; the same answer whether or not the address already has one."""
    form = RegisterForm()
    if not form.validate_on_submit():
        return render_template("auth/register.html", form=form), (422 if request.method == "POST" else 200)
    now = utcnow()
    try:
        accounts.register(form.name.data, form.email.data, form.password.data, now=now)
    except EmailTaken:
        accounts.warn_existing(form.email.data, now=now)
    except ValueError:
        form.email.errors = ["Please enter a valid email address, like name@example.org."]
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
        user = accounts.confirm_account(token, now=utcnow())
    except TokenExpired:
        return render_template("auth/confirm_error.html", reason="expired"), 410
    except TokenInvalid:
        return render_template("auth/confirm_error.html", reason="invalid"), 404
    db.session.commit()
    flash("Your email address is confirmed.", "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for(".account"), 303)
    return redirect(url_for(".login"), 303)


@bp.post("/account/resend-confirmation")
@login_required
def resend_confirmation() -> Response:
    """Send the account confirmation email again."""
    if not current_user.email_confirmed:
        accounts.send_confirmation(current_user, now=utcnow())
        db.session.commit()
        flash("We have sent the confirmation email again.", "info")
    return redirect(url_for(".account"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    """Sign in with email and password."""
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for(".account"), 303)
        form.password.errors = ["That email address and password do not match an account."]
        return render_template("auth/login.html", form=form), 422
    return render_template("auth/login.html", form=form), (422 if request.method == "POST" else 200)


@bp.post("/logout")
def logout() -> Response:
    """Sign out (a POST with a CSRF token, so no other site can sign anyone out)."""
    form = LogoutForm()
    if form.validate_on_submit():
        logout_user()
        flash("You are signed out.", "info")
    return redirect(url_for("public.index"), 303)


@bp.get("/account")
@login_required
def account() -> str:
    """The campaigner's petitions with their confirmed and pending counts."""
    pending = dict(
        db.session.execute(
            select(Signature.petition_id, func.count())
            .join(Petition, Petition.id == Signature.petition_id)
            .where(Petition.owner_id == current_user.id, Signature.confirmed_at.is_(None), Signature.invalidated_at.is_(None))
            .group_by(Signature.petition_id)
        ).all()
    )
    petitions = db.session.scalars(
        select(Petition).where(Petition.owner_id == current_user.id).order_by(Petition.created_at.desc())
    ).all()
    return render_template("campaign/account.html", petitions=petitions, pending=pending, now=utcnow())


def _petition_data(form: PetitionForm) -> campaigns.PetitionData:
    return campaigns.PetitionData(
        title=form.title.data,
        target=form.target.data,
        summary=form.summary.data,
        body=form.body.data,
        goal=form.goal.data,
        closes_at=form.closes_at_utc(),
    )


@bp.route("/petitions/new", methods=["GET", "POST"])
@login_required
def new_petition() -> Response | tuple[str, int] | str:
    """Start a petition: open at once when the campaigner's email is confirmed (MODERATION=post)."""
    form = PetitionForm()
    if not form.validate_on_submit():
        return render_template("campaign/edit.html", form=form, petition=None), (422 if request.method == "POST" else 200)
    petition = campaigns.create_petition(
        current_user, _petition_data(form), now=utcnow(), moderation=current_app.config["MODERATION"]
    )
    db.session.commit()
    if petition.status == "draft":
        flash("Saved. Confirm your email address (see your inbox) and the petition opens at once.", "info")
    elif petition.status == "pending":
        flash("Saved. The petition opens once a moderator has approved it.", "info")
    else:
        flash("Your petition is open. Share its link!", "success")
    return redirect(url_for("public.petition", slug=petition.slug), 303)


@bp.route("/petitions/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit_petition(slug: str) -> Response | tuple[str, int] | str:
    """Edit a petition's text, goal and closing date."""
    petition = visible_petition_or_404(slug)
    if not can_manage(petition):
        abort(403)
    form = PetitionForm(obj=petition if request.method == "GET" else None)
    if request.method == "GET" and petition.closes_at is not None:
        form.closes_at.data = petition.closes_at.date()
    if not form.validate_on_submit():
        return render_template("campaign/edit.html", form=form, petition=petition), (422 if request.method == "POST" else 200)
    campaigns.update_petition(petition, _petition_data(form), now=utcnow())
    db.session.commit()
    flash("Your changes are saved.", "success")
    return redirect(url_for("public.petition", slug=petition.slug), 303)
