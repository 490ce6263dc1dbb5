"""Supporter groups cannot single out a signer.

A group of one person's domain (`dave.fastmail.com`) said "1 confirmed" on the page, in the
JSON and in the widget: that Dave signed. Personal and throwaway mail providers cannot be
group domains, and below GROUP_MIN_COUNT (5) confirmed signatures every public surface says
"fewer than 5", never the number.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from petitions.campaigns import groups
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import GroupDomain, Petition, SupporterGroup
from petitions.signatures import confirming, signing
from tests.helpers import login, make_petition, make_user, post_form

OWNER = "owner@example.org"


@pytest.fixture
def slug(app) -> str:
    with app.app_context():
        return make_petition(make_user(OWNER)).slug


def sign_confirmed(app, slug: str, *addresses: str) -> None:
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        for address in addresses:
            signature = signing.sign(petition, signing.SignatureData("Sam", address, "GB"), now=utcnow(), ip=None)
            confirming.confirm(signature, now=utcnow())
        db.session.commit()


def add_group(app, slug: str, name: str, domain: str) -> None:
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        groups.save_group(petition, name=name, domains=[domain], now=utcnow())
        db.session.commit()


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


# --- personal-mail domains ------------------------------------------------------------------


@pytest.mark.parametrize(
    "domains",
    [
        "dave.fastmail.com",
        "gmail.com",
        "mail.googlemail.com",
        "outlook.com",
        "hotmail.co.uk",
        "proton.me",
        "pm.me",
        "icloud.com",
        "yahoo.fr",
        "mailinator.com",
        "example.com, gmail.com",
    ],
)
def test_a_personal_mail_domain_cannot_be_a_group_domain(app, client, slug, domains) -> None:
    login(client, OWNER)
    response = post_form(client, f"/account/petitions/{slug}/groups", {"name": "Dave", "domains": domains})
    assert response.status_code == 422
    assert "a group cannot count the users of a personal or throwaway email provider" in response.text
    assert 'aria-invalid="true"' in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SupporterGroup)) == 0
        assert db.session.scalar(select(func.count()).select_from(GroupDomain)) == 0


def test_an_organisation_domain_is_still_a_group_domain(app, client, slug) -> None:
    login(client, OWNER)
    response = post_form(client, f"/account/petitions/{slug}/groups", {"name": "Staff", "domains": "example.com"})
    assert response.status_code == 303


def test_save_group_refuses_personal_domains_whoever_calls_it(ctx) -> None:
    petition = make_petition()
    for domain in ("dave.fastmail.com", "gmail.com", "10minutemail.com"):
        with pytest.raises(groups.GroupError, match="personal or throwaway"):
            groups.save_group(petition, name="X", domains=[domain], now=utcnow())
    assert not groups.personal_domain("amazon.com") and not groups.personal_domain("fastmail.example.org")


# --- small groups ---------------------------------------------------------------------------


@pytest.mark.spanish
@pytest.mark.parametrize("signers", [0, 1, 4])
def test_a_small_group_shows_fewer_than_5_on_every_public_surface(app, client, slug, signers) -> None:
    add_group(app, slug, "Acme staff", "example.com")
    sign_confirmed(app, slug, *[f"s{i}@example.com" for i in range(signers)], "other@example.org")

    text = page_text(client.get(f"/petitions/{slug}").text)
    assert "fewer than 5 confirmed Acme staff" in text
    assert not re.search(r"\d+ confirmed Acme staff", text.replace("than 5 confirmed", ""))

    doc = client.get(f"/api/v1/petitions/{slug}").json
    assert doc["supporter_groups"] == [{"name": "Acme staff", "signature_count": None, "fewer_than": 5}]
    assert doc["signature_count"] == signers + 1

    for lang, words in [
        ("en", "fewer than 5 confirmed Acme staff"),
        ("es", "menos de 5 confirmados Acme staff"),  # the `spanish` mark's catalogue
    ]:
        widget = page_text(client.get(f"/embed/{slug}?lang={lang}").text)
        assert words in widget

    # The count, the badge and oEmbed carry no group at all.
    assert "Acme" not in client.get(f"/api/v1/petitions/{slug}/count").text
    assert "Acme" not in client.get(f"/petitions/{slug}/badge.svg").text
    assert "Acme" not in client.get(f"/oembed?url=http://localhost/petitions/{slug}&format=json").text


@pytest.mark.spanish
def test_a_group_at_the_threshold_shows_its_count(app, client, slug) -> None:
    add_group(app, slug, "Acme staff", "example.com")
    sign_confirmed(app, slug, *[f"s{i}@example.com" for i in range(5)])
    assert "5 confirmed Acme staff" in page_text(client.get(f"/petitions/{slug}").text)
    assert client.get(f"/api/v1/petitions/{slug}").json["supporter_groups"] == [
        {"name": "Acme staff", "signature_count": 5}
    ]
    assert "5 confirmados Acme staff" in page_text(client.get(f"/embed/{slug}?lang=es").text)


def test_the_threshold_is_a_setting(app, client, slug) -> None:
    add_group(app, slug, "Acme staff", "example.com")
    sign_confirmed(app, slug, *[f"s{i}@example.com" for i in range(5)])
    app.config["GROUP_MIN_COUNT"] = 10
    assert client.get(f"/api/v1/petitions/{slug}").json["supporter_groups"][0] == {
        "name": "Acme staff",
        "signature_count": None,
        "fewer_than": 10,
    }


def test_the_owner_still_sees_the_exact_small_count(app, client, slug) -> None:
    add_group(app, slug, "Acme staff", "example.com")
    sign_confirmed(app, slug, "one@example.com")
    login(client, OWNER)
    groups_page = client.get(f"/account/petitions/{slug}/groups").text
    assert re.search(r"<td>Acme staff</td>\s*<td>example.com</td>\s*<td class=\"num\">1</td>", groups_page)
    dashboard = client.get(f"/account/petitions/{slug}").text
    assert re.search(r'<th scope="row">Acme staff</th><td class="num">1</td>', dashboard)
