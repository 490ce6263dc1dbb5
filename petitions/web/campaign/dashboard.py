"""Views of a campaigner's petition dashboard, the CSV export and the printable delivery page."""

from __future__ import annotations

from flask import abort, current_app, render_template, request, stream_with_context
from flask_login import login_required
from werkzeug.wrappers import Response

from petitions.campaigns import exports, milestones, signers, stats
from petitions.clock import utcnow
from petitions.counting import counts
from petitions.models import Petition
from petitions.models.petition import SLUG_MAX
from petitions.transparency import receipts
from petitions.web.campaign import bp
from petitions.web.queries import can_manage, visible_petition_or_404
from petitions.web.verifiable import log_status, qr_svg


def managed_or_abort(slug: str) -> Petition:
    """The petition if the current user owns it or is an admin; 404 when they may not know it exists, else 403."""
    if "\x00" in slug or len(slug) > SLUG_MAX:  # no petition has such a slug, and PostgreSQL refuses NUL
        abort(404)
    petition = visible_petition_or_404(slug)
    if not can_manage(petition):
        abort(403)
    return petition


@bp.get("/account/petitions/<slug>")
@login_required
def dashboard(slug: str) -> str:
    """Counts, progress, signatures per day and per hour, where signers are, and their latest comments."""
    petition = managed_or_abort(slug)
    now = utcnow()
    days = stats.per_day(petition, now=now)
    hours = stats.per_hour(petition, now=now)
    return render_template(
        "campaign/dashboard.html",
        petition=petition,
        status=petition.effective_status(now),
        pending=stats.pending_count(petition),
        milestones=milestones.of_petition(petition.id),
        days=days,
        hours=hours,
        day_chart=stats.render_bar_chart(days, chart_id="chart-days", title="Signatures per day"),
        hour_chart=stats.render_bar_chart(hours, chart_id="chart-hours", title="Signatures per hour, last 48 hours"),
        describe=stats.describe,
        by_country=counts.by_country(petition.id),
        groups=counts.by_group(petition.id),
        comments=stats.recent_comments(petition),
        email_export=current_app.config["EXPORT_INCLUDE_EMAIL"],
    )


def wants_email() -> bool:
    """True when the request asks for the email column (?include=email, or a comma-separated list with it)."""
    asked = {part.strip() for value in request.args.getlist("include") for part in value.split(",")}
    return "email" in asked


@bp.get("/petitions/<slug>/signatures.csv")
def export_csv(slug: str) -> Response:
    """The confirmed, valid signatures as CSV, streamed; emails only when the site allows it and they are asked for."""
    petition = managed_or_abort(slug)
    include_email = bool(current_app.config["EXPORT_INCLUDE_EMAIL"]) and wants_email()
    response = Response(
        stream_with_context(exports.csv_chunks(petition, include_email=include_email)),
        mimetype="text/csv",
    )
    response.headers.set("Content-Disposition", "attachment", filename=exports.filename(petition))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/petitions/<slug>/delivery")
@login_required
def delivery(slug: str) -> str:
    """A printable summary to hand to the target: the petition, its verified count, where and when signers signed."""
    petition = managed_or_abort(slug)
    first, last = stats.confirmed_range(petition)
    # An open letter's page lists its signatories (those who let their name be shown, as on the
    # petition page) with their job title and organisation; the CSV has every signer.
    letter = petition.ask_organisation != "off" or petition.ask_job_title != "off"
    verify_url = receipts.verify_url(petition.slug)
    return render_template(
        "campaign/delivery.html",
        petition=petition,
        by_country=counts.by_country(petition.id),
        groups=counts.by_group(petition.id),
        first=first,
        last=last,
        generated_at=utcnow(),
        log=log_status(petition.id, petition.slug),
        verify_url=verify_url,
        qr=qr_svg(verify_url, f"A QR code of the page that checks this count: {verify_url}"),
        signatories=signers.page_of(petition.id, 1, per_page=DELIVERY_SIGNATORIES) if letter else None,
    )


# The most signatories an open letter's delivery page lists, newest first (the CSV has them all).
DELIVERY_SIGNATORIES = 1000
