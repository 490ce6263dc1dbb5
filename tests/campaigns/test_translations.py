"""A petition in several languages: the campaigner's translations, their review, and what readers see."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import AuditEntry, Petition, PetitionTranslation
from tests.helpers import csrf_from, login, make_petition, make_user, post_form

SPANISH = {
    "language": "es",
    "title": "Dejen de vender Rekognition a los gobiernos",
    "target": "La junta directiva de Amazon",
    "summary": "El reconocimiento facial en manos de los gobiernos amenaza las libertades civiles.",
    "body": "Pedimos a Amazon que **deje de vender** Rekognition.<script>alert(1)</script>",
}


def _petition(app, **kw) -> str:
    with app.app_context():
        return make_petition(make_user(**kw)).slug


def _translate(client, slug: str, **fields):
    url = f"/account/petitions/{slug}/translations"
    return post_form(client, url, {**SPANISH, **fields})


def _rows(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [
            (r.locale, r.status, r.title)
            for r in db.session.scalars(select(PetitionTranslation).order_by(PetitionTranslation.id))
        ]


def test_readers_see_the_petition_in_their_language_with_links_to_the_others(app, client) -> None:
    slug = _petition(app)
    login(client)
    saved = _translate(client, slug)
    assert saved.status_code == 303
    client = app.test_client()  # a reader, signed out

    spanish = client.get(f"/petitions/{slug}?lang=es").text
    assert '<h1 lang="es">Dejen de vender Rekognition a los gobiernos</h1>' in spanish
    assert "La junta directiva de Amazon" in spanish
    assert "<strong>deje de vender</strong>" in spanish
    assert "<script>alert(1)</script>" not in spanish  # the Markdown is sanitised like the petition's own
    assert re.search(r'<a href="\?lang=en" hreflang="en" lang="en">English</a>', spanish)
    assert 'property="og:title" content="Dejen de vender Rekognition a los gobiernos"' in spanish

    english = client.get(f"/petitions/{slug}?lang=en").text
    assert '<h1 lang="en">Stop selling Rekognition to governments</h1>' in english
    assert re.search(r'<a href="\?lang=es" hreflang="es" lang="es">Español</a>', english)
    assert 'hreflang="es" href="http' in english  # an alternate link for search engines

    # French has no translation: the original, marked as English inside the French page.
    french = client.get(f"/petitions/{slug}?lang=fr").text
    assert '<html lang="fr"' in french
    assert '<h1 lang="en">Stop selling Rekognition to governments</h1>' in french

    doc = client.get(f"/api/v1/petitions/{slug}").json
    assert doc["language"] == "en"
    assert doc["translations"]["es"]["title"] == SPANISH["title"]
    assert doc["translations"]["es"]["target"] == SPANISH["target"]
    assert "<script>" not in doc["translations"]["es"]["body_html"]
    assert doc["title"] == "Stop selling Rekognition to governments"  # the text people sign stays the original


def test_a_petition_without_translations_shows_no_language_links(app, client) -> None:
    slug = _petition(app)
    page = client.get(f"/petitions/{slug}?lang=es").text
    assert "petition-languages" not in page
    assert 'rel="alternate" hreflang' not in page
    assert client.get(f"/api/v1/petitions/{slug}").json["translations"] == {}


def test_changing_and_removing_a_translation(app, client) -> None:
    slug = _petition(app)
    login(client)
    _translate(client, slug)
    _translate(client, slug, title="Que Amazon deje de vender Rekognition")
    assert _rows(app) == [("es", "published", "Que Amazon deje de vender Rekognition")]
    form = client.get(f"/account/petitions/{slug}/translations?language=es").text
    assert "Que Amazon deje de vender Rekognition" in form  # the form opens on the text readers see

    page = client.get(f"/account/petitions/{slug}/translations")
    removed = client.post(
        f"/account/petitions/{slug}/translations/es/delete", data={"csrf_token": csrf_from(page.text)}
    )
    assert removed.status_code == 303
    assert _rows(app) == []
    assert '<h1 lang="en">' in client.get(f"/petitions/{slug}?lang=es").text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"language": "xx"}, "Not a valid choice"),
        ({"language": "en"}, "Not a valid choice"),  # the petition's own language is not offered
        ({"title": "x" * 151}, "The title must be 5 to 150 characters."),
        ({"summary": ""}, "Please write a short summary."),
    ],
)
def test_bad_translations_are_refused_and_nothing_is_stored(app, client, fields, message) -> None:
    slug = _petition(app)
    login(client)
    refused = _translate(client, slug, **fields)
    assert refused.status_code == 422
    assert message in refused.text
    assert _rows(app) == []


def test_a_translated_title_stays_on_one_line(app, client) -> None:
    slug = _petition(app)
    login(client)
    _translate(client, slug, title="Dejen de vender\r\nBcc: x@example.org")
    assert _rows(app) == [("es", "published", "Dejen de vender Bcc: x@example.org")]


def test_only_the_campaigner_or_an_admin_manages_translations(app, client) -> None:
    slug = _petition(app)
    with app.app_context():
        make_user("other@example.org")
    assert client.get(f"/account/petitions/{slug}/translations").status_code in (302, 303)
    login(client, "other@example.org")
    assert client.get(f"/account/petitions/{slug}/translations").status_code == 403
    page = client.get("/account")
    refused = client.post(
        f"/account/petitions/{slug}/translations", data={**SPANISH, "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 403
    assert _rows(app) == []


def test_under_pre_moderation_a_translation_waits_for_a_moderator(app, client) -> None:
    app.config["MODERATION"] = "pre"
    slug = _petition(app)
    with app.app_context():
        make_user("admin@example.org", admin=True)
    login(client)
    saved = _translate(client, slug)
    assert saved.status_code == 303
    assert _rows(app) == [("es", "pending", SPANISH["title"])]
    assert SPANISH["title"] not in client.get(f"/petitions/{slug}?lang=es").text  # readers keep the original
    assert client.get(f"/api/v1/petitions/{slug}").json["translations"] == {}

    admin = app.test_client()
    login(admin, "admin@example.org")
    admin_page = admin.get(f"/admin/petitions/{slug}")
    assert "A translation into Spanish waits for review" in admin_page.text
    with app.app_context():
        row_id = db.session.scalar(select(PetitionTranslation.id))
    # A reason is required to turn it down.
    refused = admin.post(
        f"/admin/translations/{row_id}/reject",
        data={f"translation-{row_id}-reason": " ", "csrf_token": csrf_from(admin_page.text)},
    )
    assert refused.status_code == 422
    approved = admin.post(f"/admin/translations/{row_id}/approve", data={"csrf_token": csrf_from(admin_page.text)})
    assert approved.status_code == 303
    assert _rows(app) == [("es", "published", SPANISH["title"])]
    assert SPANISH["title"] in client.get(f"/petitions/{slug}?lang=es").text
    with app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "petition.translation_approve")
        )

    # A change waits again while readers keep the approved one; turned down, the campaigner sees why.
    _translate(client, slug, title="Un título de spam para todos")
    assert SPANISH["title"] in client.get(f"/petitions/{slug}?lang=es").text
    admin_page = admin.get(f"/admin/petitions/{slug}")
    with app.app_context():
        pending_id = db.session.scalar(select(PetitionTranslation.id).where(PetitionTranslation.status == "pending"))
    rejected = admin.post(
        f"/admin/translations/{pending_id}/reject",
        data={
            f"translation-{pending_id}-reason": "Not a translation of the petition.",
            "csrf_token": csrf_from(admin_page.text),
        },
    )
    assert rejected.status_code == 303
    assert sorted(_rows(app)) == [
        ("es", "published", SPANISH["title"]),
        ("es", "rejected", "Un título de spam para todos"),
    ]
    assert "Not a translation of the petition." in client.get(f"/account/petitions/{slug}/translations").text
    assert SPANISH["title"] in client.get(f"/petitions/{slug}?lang=es").text


def test_under_post_moderation_a_translation_flags_the_petition_for_review(app, client) -> None:
    slug = _petition(app)
    login(client)
    _translate(client, slug)
    with app.app_context():
        assert db.session.scalar(select(Petition.edited_since_review_at).where(Petition.slug == slug)) is not None


def test_the_petition_language(app, client) -> None:
    slug = _petition(app)
    login(client)
    _translate(client, slug)
    url = f"/account/petitions/{slug}/language"
    refused = post_form(client, url, {"language": "es"}, page_url=f"/account/petitions/{slug}/translations")
    assert refused.status_code == 422
    assert "remove it first" in refused.text
    saved = post_form(client, url, {"language": "fr"}, page_url=f"/account/petitions/{slug}/translations")
    assert saved.status_code == 303
    assert client.get(f"/api/v1/petitions/{slug}").json["language"] == "fr"
    # Readers of the old language see the original now, marked as French.
    assert '<h1 lang="fr">' in client.get(f"/petitions/{slug}?lang=en").text


def test_a_new_petition_is_written_in_the_language_of_its_page(app, client) -> None:
    with app.app_context():
        make_user()
    login(client)
    page = client.get("/petitions/new?lang=de")
    created = client.post(
        "/petitions/new",
        data={
            "title": "Gesichtserkennung stoppen",
            "target": "Der Vorstand von Amazon",
            "summary": "Gesichtserkennung in den Händen von Regierungen bedroht die Bürgerrechte.",
            "body": "Wir fordern Amazon auf, damit aufzuhören.",
            "goal": "100",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert created.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Petition.language)) == "de"
