"""Views of a petition's text in other languages: the campaigner adds, changes and removes translations."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from petitions.campaigns import translations
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Petition
from petitions.web.campaign import bp
from petitions.web.campaign.forms import LanguageForm, TranslationForm
from petitions.web.campaign.routes import _managed_or_403
from petitions.web.fields import required_value
from petitions.web.forms import ButtonForm
from petitions.web.i18n import language_in_page, language_name, languages, supported


def _page(petition: Petition, form: TranslationForm, language_form: LanguageForm, status: int) -> tuple[str, int]:
    original = translations.original_language(petition, current_app.config["DEFAULT_LOCALE"])
    return render_template(
        "campaign/translations.html",
        petition=petition,
        form=form,
        language_form=language_form,
        delete_form=ButtonForm(formdata=None),
        original=original,
        rows=translations.by_language(petition.id),
        others=[code for code in languages() if code != original],
        reviewed_first=current_app.config["MODERATION"] == "pre"
        and petition.opened_at is not None
        and not current_user.is_admin,
    ), status


def _forms(petition: Petition, formdata: bool) -> tuple[TranslationForm, LanguageForm]:
    original = translations.original_language(petition, current_app.config["DEFAULT_LOCALE"])
    form = TranslationForm() if formdata else TranslationForm(formdata=None)
    form.language.choices = [(code, language_name(code)) for code in languages() if code != original]
    language_form = LanguageForm(formdata=None, language=original)
    language_form.language.choices = [(code, language_name(code)) for code in languages()]
    return form, language_form


@bp.route("/account/petitions/<slug>/translations", methods=["GET", "POST"])
@login_required
def petition_translations(slug: str) -> Response | tuple[str, int]:
    """The petition's languages: which one it is written in, its translations, and a form for one.

    ?language=xx opens the form on that language, filled with its text (the one waiting for
    review if there is one, else the published one).
    """
    petition = _managed_or_403(slug)
    form, language_form = _forms(petition, request.method == "POST")
    if request.method == "GET":
        chosen = supported(request.args.get("language"))
        original = translations.original_language(petition, current_app.config["DEFAULT_LOCALE"])
        if chosen is not None and chosen != original:
            form.language.data = chosen
            rows = translations.by_language(petition.id).get(chosen, {})
            row = rows.get("pending") or rows.get("published")
            if row is not None:
                for name in ("title", "target", "summary", "body"):
                    getattr(form, name).data = getattr(row, name)
        return _page(petition, form, language_form, 200)
    if not form.validate_on_submit():
        return _page(petition, form, language_form, 422)
    code = required_value(form.language)
    data = translations.TranslationData(
        title=required_value(form.title),
        target=required_value(form.target),
        summary=required_value(form.summary),
        body=required_value(form.body),
    )
    try:
        waits = translations.save(
            petition,
            code,
            data,
            editor=current_user._get_current_object(),
            now=utcnow(),
            moderation=current_app.config["MODERATION"],
            default=current_app.config["DEFAULT_LOCALE"],
            languages=languages(),
        )
    except translations.NotTranslatable as exc:
        db.session.rollback()
        form.language.errors = [_(str(exc))]
        return _page(petition, form, language_form, 422)
    db.session.commit()
    name = language_in_page(code)
    if waits:
        flash(_("The text in %(language)s waits for a moderator before readers see it.", language=name), "info")
    else:
        flash(_("Readers who read %(language)s now see the petition in it.", language=name), "success")
    return redirect(url_for(".petition_translations", slug=slug), 303)


@bp.post("/account/petitions/<slug>/translations/<language>/delete")
@login_required
def delete_translation(slug: str, language: str) -> Response:
    """Remove the petition's text in one language: its readers see the original again."""
    petition = _managed_or_403(slug)
    code = supported(language)
    if code is None:
        abort(404)
    if ButtonForm().validate_on_submit() and translations.remove(petition, code, now=utcnow()):
        db.session.commit()
        flash(_("The text in %(language)s is removed.", language=language_in_page(code)), "success")
    return redirect(url_for(".petition_translations", slug=slug), 303)


@bp.post("/account/petitions/<slug>/language")
@login_required
def petition_language(slug: str) -> Response | tuple[str, int]:
    """Say which language the petition is written in."""
    petition = _managed_or_403(slug)
    form, language_form = _forms(petition, False)
    language_form = LanguageForm()
    language_form.language.choices = [(code, language_name(code)) for code in languages()]
    if not language_form.validate_on_submit():
        return _page(petition, form, language_form, 422)
    code = required_value(language_form.language)
    try:
        translations.set_language(
            petition, code, now=utcnow(), default=current_app.config["DEFAULT_LOCALE"], languages=languages()
        )
    except translations.NotTranslatable as exc:
        db.session.rollback()
        language_form.language.errors = [_(str(exc))]
        return _page(petition, form, language_form, 422)
    db.session.commit()
    flash(_("The petition is written in %(language)s.", language=language_in_page(code)), "success")
    return redirect(url_for(".petition_translations", slug=slug), 303)
