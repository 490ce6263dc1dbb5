"""Views of the public pages."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from flask import current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from petitions.campaigns import signers, translations
from petitions.clock import utcnow
from petitions.counting import counts, rules
from petitions.exceptions import PetitionClosed, SignatureInvalidated, TokenExpired, TokenInvalid
from petitions.extensions import csrf, db, limiter
from petitions.infra import tokens
from petitions.models import Petition, Signature
from petitions.models.petition import PUBLIC_STATUSES, effective_status
from petitions.moderation import abuse
from petitions.signatures import confirming, links, mydata, signing, withdrawing
from petitions.signatures.mailboxes import normalize_email
from petitions.web import errors, metrics
from petitions.web.fields import required_value
from petitions.web.forms import ButtonForm
from petitions.web.i18n import languages
from petitions.web.public import bp, transparency
from petitions.web.public.forms import ConfirmForm, MyDataForm, SignForm
from petitions.web.queries import (
    can_manage,
    public_petitions,
    public_signers,
    visible_petition_brief_or_404,
    visible_petition_or_404,
)
from petitions.web.security import PRIVATE_CACHING, bounded_form


@bp.get("/")
def index() -> str:
    """Open petitions, most signed first (or newest), with search."""
    q = (request.args.get("q") or "").strip()[:100]
    sort = "new" if request.args.get("sort") == "new" else "popular"
    try:
        number = min(10_000, max(1, int(request.args.get("page", 1))))
    except ValueError:
        number = 1
    page = db.paginate(public_petitions(q or None, sort), page=number, per_page=20, error_out=False)
    return render_template("public/index.html", page=page, q=q, sort=sort)


class ReadAs:
    """A petition as one reader reads it: its text in their language (campaigns/translations), the rest its own."""

    def __init__(self, petition: Petition, text: translations.Text) -> None:
        """Wrap the petition; title, target, summary and body_html come from `text`."""
        self._petition = petition
        self.text = text
        self.title, self.target, self.summary, self.body_html = text.title, text.target, text.summary, text.body_html

    def __getattr__(self, name: str) -> Any:
        return getattr(self._petition, name)


def render_petition(
    petition: Petition,
    form: SignForm,
    status: int = 200,
    receipt: transparency.Receipt | None = None,
    signers_page: int = 1,
) -> tuple[str, int]:
    """The petition page with the given form (blank, or with the errors of a failed submission)."""
    now = utcnow()
    text = translations.text_for(
        petition, str(get_locale()), default=current_app.config["DEFAULT_LOCALE"], languages=languages()
    )
    return (
        render_template(
            "public/petition.html",
            petition=ReadAs(petition, text),
            text=text,
            form=form,
            is_open=petition.is_open(now),
            status=petition.effective_status(now),
            by_country=counts.by_country(petition.id),
            groups=counts.public_groups(petition.id),
            manage=can_manage(petition),
            button_form=ButtonForm(),
            now=now,
            receipt=receipt,
            signers=public_signers(petition.id, signers_page) if petition.is_public() else None,
        ),
        status,
    )


def _session_key() -> str | None:
    """This session's CSRF secret (Flask-WTF keeps it in the session), to which form stamps are bound."""
    return session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))


def form_stamp(petition_id: int) -> str:
    """A new stamp for a signing form of this petition shown now, bound to this session."""
    generate_csrf()  # the session has its CSRF secret from here on (the page's form needs it anyway)
    return abuse.form_started_token(petition_id, _session_key())


@bp.get("/petitions/<slug>")
def petition(slug: str) -> Response | tuple[str, int]:
    """The petition, its count and progress, and the signing form; after confirming, the signer's receipt."""
    petition = visible_petition_or_404(slug)
    receipt = transparency.take_receipt(petition.id, petition.slug)
    form = SignForm(started=form_stamp(petition.id)).ask(petition)
    # A page of the list of signers past the first (?page=, plain links); anything else shows the first.
    page = render_petition(
        petition, form, receipt=receipt, signers_page=signers.page_number(request.args.get("page")) or 1
    )
    if receipt is None:
        return page
    return transparency.private(current_app.make_response(page))


def _domain_of(address: str) -> str:
    """The domain as signatures store it (lower case, IDNA), so blocks match every spelling."""
    try:
        return normalize_email(address).rpartition("@")[2]
    except ValueError:
        return address.rpartition("@")[2].lower()


def _closed(petition: Petition, form: SignForm) -> tuple[str, int]:
    form.form_errors.append(_("This petition is not taking signatures. Nothing was saved."))
    return render_petition(petition, form, 409)


@bp.post("/petitions/<slug>/sign")
def sign(slug: str) -> Response | tuple[str, int]:
    """Take a signature; whatever the address's history, the answer is the same redirect.

    The hottest path there is: it reads one light row of the petition (kept a second per
    process), and the whole petition only when the page has to be shown again (closed, or
    the form has errors). Whether the petition is open is decided by the INSERT itself.
    """
    brief = visible_petition_brief_or_404(slug)
    if current_app.config.get("WTF_CSRF_ENABLED", True) and not current_app.config.get("WTF_CSRF_CHECK_DEFAULT", True):
        csrf.protect()  # the form does not check its token itself (see SignForm): never leave it unchecked
    form = SignForm().ask(brief)
    now = utcnow()
    if effective_status(brief.status, brief.closes_at, now) != "open":
        petition = visible_petition_or_404(slug)  # the row may be a second old: ask again
        if not petition.is_open(now):
            return _closed(petition, form)
    if not form.validate_on_submit():
        form.started.data = form_stamp(brief.id)
        return render_petition(visible_petition_or_404(slug), form, 422)
    data = signing.SignatureData(
        name=required_value(form.name),
        email=required_value(form.email),
        country=form.country.data,
        postcode=form.postcode.data,
        comment=form.comment.data,
        organisation=form.asked_value(form.organisation),
        job_title=form.asked_value(form.job_title),
        show_name=form.show_name.data,
        updates=form.updates.data,
        locale=str(get_locale()),  # the emails to the signer are written in the language they signed in
    )
    verdict = abuse.judge(
        petition_id=brief.id,
        email_domain=_domain_of(required_value(form.email)),
        ip=request.remote_addr,
        form_started=form.started.data,
        honeypot=form.website.data,
        now=now,
        session_key=_session_key(),
    )
    _remember_address(brief.slug, required_value(form.email), now)  # before any outcome: every answer the same
    if verdict.drop:  # a bot: the same answer as everyone, nothing stored
        metrics.SIGNINGS.labels("dropped").inc()
        return redirect(url_for(".signed", slug=brief.slug), 303)
    try:
        signing.record(
            brief, data, now=now, ip=request.remote_addr, suspected=verdict.suspected, stamp=verdict.stamp, commit=True
        )
    except PetitionClosed:
        db.session.rollback()
        return _closed(visible_petition_or_404(slug), form)
    except ValueError:  # an address the form's check let through but the normaliser refuses
        db.session.rollback()
        form.email.errors = [_("Please enter a valid email address, like name@example.org.")]
        return render_petition(visible_petition_or_404(slug), form, 422)
    metrics.SIGNINGS.labels("suspected" if verdict.suspected else "stored").inc()
    return redirect(url_for(".signed", slug=brief.slug), 303)


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> ResponseReturnValue:
    """A signing form sent without a valid CSRF token comes back filled in, with the reason; any other
    form of this blueprint gets the site's page for it."""
    if request.endpoint != "public.sign" or not request.view_args:
        return errors.handle_csrf(exc)
    db.session.rollback()
    try:
        petition = visible_petition_or_404(request.view_args["slug"])
    except NotFound:
        return errors.handle_csrf(exc)
    # not validated: it shows what was typed (cut to each field's maximum), with a fresh CSRF token
    form = SignForm().ask(petition)
    bounded_form(form)
    form.started.data = form_stamp(petition.id)
    form.form_errors.append(
        "This form expired or did not come from this site. Nothing was saved; please press Sign again."
    )
    return render_petition(petition, form, 400)


# The "check your email" page names the address the signer typed, in their own session only, for this long.
SIGNED_ADDRESS_SECONDS = 3600
_SIGNED_KEY = "signed"


def _remember_address(slug: str, address: str, now: datetime) -> None:
    """Keep the address just typed in this browser's session for its "check your email" page.

    Kept whatever becomes of the signing (new, repeated, dropped as a bot's), so the answer is the
    same for all; it is the signer's own typing, in their own signed cookie, shown to nobody else.
    """
    session[_SIGNED_KEY] = {"slug": slug, "email": address, "at": int(now.timestamp())}


def _remembered_address(slug: str, now: datetime) -> str | None:
    """The address this session signed `slug` with, while it is fresh; a stale one is forgotten."""
    kept = session.get(_SIGNED_KEY)
    if not isinstance(kept, dict):
        return None
    if now.timestamp() - float(kept.get("at", 0)) > SIGNED_ADDRESS_SECONDS:
        session.pop(_SIGNED_KEY, None)
        return None
    return str(kept["email"]) if kept.get("slug") == slug and kept.get("email") else None


@bp.get("/petitions/<slug>/signed")
def signed(slug: str) -> Response:
    """'Check your email': shown after every signing, new or repeated, with the address typed (to its signer only)."""
    petition = visible_petition_or_404(slug)
    page = render_template(
        "public/signed.html",
        petition=petition,
        address=_remembered_address(slug, utcnow()),
        max_resends=current_app.config["SIGNATURE_MAX_RESENDS"],
    )
    response = current_app.make_response(page)
    response.headers["Cache-Control"] = PRIVATE_CACHING  # it may name the signer's address: no cache keeps it
    return response


def _verify_error(exc: Exception) -> tuple[str, int]:
    if isinstance(exc, TokenExpired):
        return render_template("public/verify_error.html", reason="expired"), 410
    if isinstance(exc, SignatureInvalidated):
        return render_template("public/verify_error.html", reason="invalidated"), 409
    if isinstance(exc, PetitionClosed):
        return render_template("public/verify_error.html", reason="closed"), 409
    return render_template("public/verify_error.html", reason="invalid"), 404


@bp.get("/verify/<token>")
def verify(token: str) -> tuple[str, int] | str:
    """A page with one button; opening it changes nothing, so mail scanners cannot confirm."""
    try:
        signature = links.signature_from_token(token, now=utcnow())
    except (TokenInvalid, TokenExpired) as exc:
        return _verify_error(exc)
    if signature.withdrawn_at is not None:
        return _verify_error(TokenInvalid())
    if signature.invalidated_at is not None and not rules.held_as_suspected(signature):
        return _verify_error(SignatureInvalidated())
    return render_template("public/verify.html", signature=signature, petition=signature.petition, form=ConfirmForm())


@bp.post("/verify/<token>")
def verify_post(token: str) -> Response | tuple[str, int]:
    """Confirm the signature (idempotent) and show the petition with its fresh count."""
    now = utcnow()
    try:
        newly, petition = confirming.confirm_link(token, now=now)
    except (TokenInvalid, TokenExpired, SignatureInvalidated, PetitionClosed) as exc:
        db.session.rollback()
        return _verify_error(exc)
    db.session.commit()
    if newly:
        metrics.CONFIRMATIONS.inc()
        flash(_("Thank you: your signature is confirmed and counted."), "success")
    else:
        flash(_("Your signature was already confirmed. It is counted once."), "info")
    if petition.status not in PUBLIC_STATUSES:
        return redirect(url_for(".index"), 303)
    # The petition page this signer lands on shows their receipt (confirm_link has checked the token).
    transparency.remember_receipt(links.read_link(token, purpose=tokens.CONFIRM_SIGNATURE, now=now, max_age=None)[0])
    return redirect(url_for(".petition", slug=petition.slug), 303)


@bp.get("/privacy")
def privacy() -> str:
    """What is kept and for how long; it reads the settings the code runs with."""
    return render_template("public/privacy.html")


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="down"), 503
    return jsonify(status="ok"), 200


def _signature_or_error(token: str, purpose: str) -> Signature | tuple[str, int]:
    """The signature a signer's link names, or the page saying the link is no longer valid."""
    try:
        return links.signature_from_token(token, now=utcnow(), purpose=purpose, max_age=tokens.LONG_LIVED)
    except (TokenInvalid, TokenExpired):
        return render_template("public/verify_error.html", reason="gone"), 404


@bp.route("/withdraw/<token>", methods=["GET", "POST"])
def withdraw(token: str) -> tuple[str, int] | str:
    """A signer withdraws (deletes) their signature from the link in their email; a GET only asks."""
    signature = _signature_or_error(token, tokens.WITHDRAW_SIGNATURE)
    if isinstance(signature, tuple):
        return signature
    petition = signature.petition
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            kept = withdrawing.withdraw(signature, now=utcnow())
        except TokenInvalid:
            db.session.rollback()
            return render_template("public/verify_error.html", reason="gone"), 404
        db.session.commit()
        return render_template("public/withdrawn.html", petition=petition, kept=kept)
    if signature.withdrawn_at is not None:
        return render_template("public/withdrawn.html", petition=petition, kept=True)
    return render_template(
        "public/withdraw.html", petition=petition, form=form, set_aside=signature.invalidated_at is not None
    )


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str) -> tuple[str, int] | str:
    """Stop update emails: a button on the page, or a one-click POST from the mail client (RFC 8058)."""
    signature = _signature_or_error(token, tokens.UNSUBSCRIBE)
    if isinstance(signature, tuple):
        return signature
    petition = signature.petition
    if request.method == "POST":
        # The signed token authenticates the request; a browser form also carries a CSRF token.
        if request.form.get("List-Unsubscribe") != "One-Click":
            try:
                validate_csrf(request.form.get("csrf_token"))
            except ValidationError:
                return render_template(
                    "errors/error.html",
                    code=400,
                    name=_("The form has expired"),
                    description=_("Please open the link from the email again."),
                ), 400
        withdrawing.unsubscribe(signature)
        db.session.commit()
        return render_template("public/unsubscribed.html", petition=petition)
    return render_template("public/unsubscribe.html", petition=petition, form=ConfirmForm())


@bp.route("/my-data", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_PASSWORD_RESET"], methods=["POST"], scope="my-data")
def my_data() -> Response | tuple[str, int] | str:
    """Ask for a link to your signatures; the same answer whether or not the address has signed."""
    form = MyDataForm()
    if form.validate_on_submit():
        with contextlib.suppress(ValueError):  # not an address that could have signed: the same answer
            mydata.request_link(required_value(form.email), now=utcnow())
        db.session.commit()
        return redirect(url_for(".my_data_sent"), 303)
    return render_template("public/my_data.html", form=form), (422 if request.method == "POST" else 200)


@bp.get("/my-data/sent")
def my_data_sent() -> str:
    """'Check your email' after asking for your data."""
    return render_template("public/my_data_sent.html")


@bp.route("/my-data/<token>", methods=["GET", "POST"])
def my_data_view(token: str) -> Response | tuple[str, int] | str:
    """Your signatures, with buttons to hide your name or delete them all."""
    now = utcnow()
    try:
        mailbox = mydata.mailbox_from(token, now=now)
    except TokenExpired:
        return render_template("public/verify_error.html", reason="expired"), 410
    except TokenInvalid:
        return render_template("public/verify_error.html", reason="invalid"), 404
    form = ConfirmForm()
    if form.validate_on_submit():
        action = request.form.get("action")
        if action == "hide-names":
            n = mydata.hide_names(mailbox)
            db.session.commit()
            flash(
                ngettext(
                    "Your name is no longer shown on %(num)s petition(s).",
                    "Your name is no longer shown on %(num)s petition(s).",
                    n,
                ),
                "success",
            )
        elif action == "delete":
            n = mydata.delete_all(mailbox, now=now)
            db.session.commit()
            flash(ngettext("We deleted %(num)s signature(s).", "We deleted %(num)s signature(s).", n), "success")
        return redirect(url_for(".my_data_view", token=token), 303)
    response = current_app.make_response(
        render_template("public/my_data_view.html", signatures=mydata.signatures_of(mailbox), form=form)
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
