"""Views of what a campaign brings back: paper signatures (batches, their scans, their CSV) and the
target's response with the petition's victory.

Thin: they validate, call campaigns/paper.py or campaigns/responses.py, and commit once.
"""

from __future__ import annotations

import csv
import io

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from petitions.campaigns import paper, responses
from petitions.campaigns.exports import iso_utc, safe_cell
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import PaperBatch
from petitions.web.campaign import bp
from petitions.web.campaign.dashboard import managed_or_abort
from petitions.web.campaign.forms import PaperBatchForm, ResponseForm
from petitions.web.fields import required_value
from petitions.web.forms import ButtonForm
from petitions.web.uploads import accepts_upload, upload_folder


def _scan_bytes(storage: object, limit: int) -> bytes | None:
    """The uploaded file's bytes, at most one past `limit` (enough to tell that it is too large)."""
    if not isinstance(storage, FileStorage) or not storage.filename:
        return None
    return storage.stream.read(limit + 1)


@bp.route("/account/petitions/<slug>/paper", methods=["GET", "POST"])
@login_required
@accepts_upload("PAPER_SCAN_MAX_BYTES")
def paper_batches(slug: str) -> Response | tuple[str, int]:
    """Signatures collected on paper: record a batch (with a scan), see the batches and their state."""
    petition = managed_or_abort(slug)
    form = PaperBatchForm()
    status = 200
    if form.validate_on_submit():
        folder = upload_folder()
        limit = current_app.config["PAPER_SCAN_MAX_BYTES"]
        data = paper.BatchData(
            count=required_value(form.count),
            location=required_value(form.location),
            collected_on=required_value(form.collected_on),
            scan=_scan_bytes(form.scan.data, limit),
        )
        try:
            batch = paper.record_batch(
                petition, current_user._get_current_object(), data, folder=folder, max_scan_bytes=limit, now=utcnow()
            )
        except paper.PaperError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
            status = 422
        else:
            try:
                db.session.commit()
            except Exception:
                db.session.rollback()
                paper.discard_scan(batch, folder)
                raise
            flash(
                ngettext("%(num)s paper signature recorded.", "%(num)s paper signatures recorded.", batch.count),
                "success",
            )
            return redirect(url_for(".paper_batches", slug=slug), 303)
    elif request.method == "POST":
        status = 422
    return render_template(
        "campaign/paper.html",
        petition=petition,
        form=form,
        batches=paper.batches(petition),
        reject_form=ButtonForm(),
        max_mb=f"{current_app.config['PAPER_SCAN_MAX_BYTES'] / 1048576:g}",
    ), status


@bp.get("/account/petitions/<slug>/paper/<int:batch_id>/scan")
@login_required
def paper_scan(slug: str, batch_id: int) -> Response:
    """A batch's scan, to its petition's campaigner and administrators only, never cached."""
    petition = managed_or_abort(slug)
    batch = db.session.get(PaperBatch, batch_id)
    if batch is None or batch.petition_id != petition.id or not batch.scan_file or not batch.scan_type:
        abort(404)
    path = paper.scan_path(batch, upload_folder())
    if path is None or not path.is_file():
        abort(404)
    # An image is shown in the browser, sandboxed; a PDF, which a viewer could script, is downloaded.
    response = send_file(
        path,
        mimetype=batch.scan_type,
        as_attachment=batch.scan_type == "application/pdf",
        download_name=f"{petition.slug}-paper-{batch.id}{path.suffix}",
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


@bp.get("/petitions/<slug>/paper.csv")
@login_required
def paper_csv(slug: str) -> Response:
    """The paper batches as CSV, rejected ones marked: beside signatures.csv, never mixed into it."""
    petition = managed_or_abort(slug)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(("count", "location", "collected_on", "recorded_at", "status", "rejection_reason"))
    for batch in reversed(paper.batches(petition)):
        writer.writerow(
            (
                batch.count,
                safe_cell(batch.location),
                batch.collected_on.isoformat(),
                iso_utc(batch.created_at),
                "counted" if batch.counts else "rejected",
                safe_cell(batch.rejection_reason),
            )
        )
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers.set("Content-Disposition", "attachment", filename=f"{petition.slug}-paper.csv")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/petitions/<slug>/response", methods=["GET", "POST"])
@login_required
def petition_response(slug: str) -> Response | tuple[str, int]:
    """Post the target's response (Markdown) with its date, and mark the petition won."""
    petition = managed_or_abort(slug)
    form = ResponseForm()
    status = 200
    if form.validate_on_submit():
        data = responses.ResponseData(
            text=required_value(form.text),
            responded_on=required_value(form.responded_on),
            won=bool(form.won.data),
        )
        try:
            responses.post_response(petition, current_user._get_current_object(), data, now=utcnow())
        except responses.ResponseError as exc:
            db.session.rollback()
            form.text.errors = [*form.text.errors, str(exc)]
            status = 422
        else:
            db.session.commit()
            flash(_("The response is posted; the signers who asked for updates will get it by email."), "success")
            return redirect(url_for("public.petition", slug=slug), 303)
    elif request.method == "POST":
        status = 422
    return render_template("campaign/response.html", petition=petition, form=form, outcome_form=ButtonForm()), status


@bp.post("/account/petitions/<slug>/outcome")
@login_required
def petition_outcome(slug: str) -> Response:
    """Mark the petition won (`outcome=won`), or take the mark back (`outcome=` empty)."""
    petition = managed_or_abort(slug)
    if ButtonForm().validate_on_submit():
        outcome = request.form.get("outcome") or None
        try:
            responses.set_outcome(petition, current_user._get_current_object(), outcome, now=utcnow())
        except responses.ResponseError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(
                _("The petition is marked as won.") if outcome else _("The petition is no longer marked as won."),
                "success",
            )
    return redirect(url_for(".petition_response", slug=slug), 303)
