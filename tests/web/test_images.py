"""A petition's picture over HTTP: uploading, what is stored, what is refused, who may, and the share card."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import ExifTags, Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import PetitionImage
from petitions.signatures import confirming, signing
from tests import images
from tests.helpers import csrf_from, login, make_petition, make_user

OWNER = "owner@example.org"


@pytest.fixture
def slug(app: Flask) -> str:
    with app.app_context():
        return make_petition(make_user(OWNER)).slug


@pytest.fixture
def owner(client: FlaskClient, slug: str) -> FlaskClient:
    login(client, OWNER)
    return client


def upload(client: FlaskClient, slug: str, data: bytes, *, filename="photo.jpg", content_type=None, alt="A banner"):
    """Send the picture form as a browser does."""
    token = csrf_from(client.get(f"/petitions/{slug}/image").text)
    form = {"csrf_token": token, "alt": alt, "image": (io.BytesIO(data), filename, content_type)}
    return client.post(f"/petitions/{slug}/image", data=form, content_type="multipart/form-data")


def stored_files(app: Flask) -> list[Path]:
    folder = Path(app.instance_path) / "uploads"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def opened(path: Path) -> Image.Image:
    """A stored file, read back with Pillow (from its bytes: no file left open)."""
    return Image.open(io.BytesIO(path.read_bytes()))


def image_rows(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PetitionImage)) or 0


def shown(client: FlaskClient, slug: str) -> tuple[str, str]:
    """The picture's file name and alt text on the petition page."""
    page = client.get(f"/petitions/{slug}").text
    match = re.search(r'<figure class="petition-image">\s*<img src="/images/([^"]+)".*?alt="([^"]*)"', page, re.S)
    assert match, "the petition page shows no picture"
    return match.group(1), match.group(2)


def test_a_phone_photo_is_turned_upright_and_loses_its_gps_position(app, owner, slug) -> None:
    photo = images.photo_with_gps()
    sent = Image.open(io.BytesIO(photo))
    assert sent.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == images.LATITUDE

    answer = upload(owner, slug, photo, alt="Our banner at the town hall")
    assert answer.status_code == 303

    files = stored_files(app)
    assert len(files) == 3
    for path in files:
        stored = opened(path)
        assert stored.format in ("WEBP", "JPEG")
        assert not stored.getexif(), f"{path.name} kept EXIF"
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(stored.info), f"{path.name} kept metadata"
        assert b"Test Phone" not in path.read_bytes() and b"taken at home" not in path.read_bytes()
    name, alt = shown(owner, slug)
    assert alt == "Our banner at the town hall"
    page = opened(next(p for p in files if p.name == name)).convert("RGB")
    # Stored 800×600 sideways; shown upright: 600×800, the red left half now on top.
    assert page.size == (600, 800)
    assert page.getpixel((300, 100))[0] > 150 and page.getpixel((300, 700))[2] > 150
    card = opened(next(p for p in files if p.name.endswith("-card.jpg")))
    assert card.size == (1200, 630)


def test_the_picture_is_served_by_us_for_good_and_never_sniffed(app, owner, slug) -> None:
    upload(owner, slug, images.webp())
    name, _ = shown(owner, slug)
    with app.test_client() as anonymous:
        served = anonymous.get(f"/images/{name}")
        assert served.status_code == 200 and served.mimetype == "image/webp"
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "Set-Cookie" not in served.headers
        assert Image.open(io.BytesIO(served.data)).size == (1200, 675)
        served.close()
        again = anonymous.get(f"/images/{name}", headers={"If-None-Match": served.headers["ETag"]})
        assert again.status_code == 304
        again.close()
        for wrong in ("../secret_key", "0" * 32 + ".webp", name.replace(".webp", ".jpg"), name + ".svg"):
            assert anonymous.get(f"/images/{wrong}").status_code == 404


def test_a_png_with_a_wrong_name_and_type_is_taken_by_what_it_is(app, owner, slug) -> None:
    answer = upload(owner, slug, images.png(), filename="scan.pdf", content_type="application/pdf")
    assert answer.status_code == 303
    name, _ = shown(owner, slug)
    assert name.endswith(".webp")
    assert image_rows(app) == 1 and len(stored_files(app)) == 3


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "message"),
    [
        (images.TEXT, "photo.jpg", "image/jpeg", "not a JPEG, PNG or WebP picture"),
        (images.PDF, "petition.pdf", "application/pdf", "not a JPEG, PNG or WebP picture"),
        (images.SVG_WITH_SCRIPT, "logo.svg", "image/svg+xml", "not a JPEG, PNG or WebP picture"),
        (images.photo_with_gps()[:4000], "photo.jpg", "image/jpeg", "damaged or incomplete"),
        (images.bomb(), "small.png", "image/png", "too many pixels"),
        (images.png((40, 40)), "icon.png", "image/png", "too small"),
    ],
    ids=["text", "pdf", "svg-with-script", "truncated", "decompression-bomb", "tiny"],
)
def test_what_is_not_a_sound_picture_is_refused_and_nothing_is_stored(
    app, owner, slug, data, filename, content_type, message
) -> None:
    answer = upload(owner, slug, data, filename=filename, content_type=content_type)
    assert answer.status_code == 422
    assert message in answer.text and 'id="error-summary"' in answer.text
    assert image_rows(app) == 0 and stored_files(app) == []


def test_a_twenty_megabyte_upload_gets_a_page_that_says_so(app, owner, slug) -> None:
    big = images.photo_with_gps() + b"\0" * (20 * 1024 * 1024)
    token = csrf_from(owner.get(f"/petitions/{slug}/image").text)
    # Encoded in memory: the test client would spool a body this large to a file it never closes.
    boundary, body = encode_multipart(
        {"csrf_token": token, "alt": "Big", "image": FileStorage(io.BytesIO(big), "b.jpg")}
    )
    answer = owner.post(f"/petitions/{slug}/image", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert answer.status_code == 413
    assert "larger than this page accepts (at most 10 MB)" in answer.text and "<html" in answer.text
    assert image_rows(app) == 0 and stored_files(app) == []


def test_the_description_is_required(app, owner, slug) -> None:
    answer = upload(owner, slug, images.png(), alt="  ")
    assert answer.status_code == 422 and "Please describe the picture" in answer.text
    assert image_rows(app) == 0 and stored_files(app) == []


def test_only_the_owner_may_change_the_picture(app, client, slug) -> None:
    with app.app_context():
        make_user("other@example.org")
    answer = client.get(f"/petitions/{slug}/image")
    assert answer.status_code == 302 and "/login" in answer.location
    anonymous = client.post(
        f"/petitions/{slug}/image",
        data={"alt": "x", "image": (io.BytesIO(images.png()), "a.png")},
        content_type="multipart/form-data",
    )
    assert anonymous.status_code in (302, 400)
    login(client, "other@example.org")
    assert client.get(f"/petitions/{slug}/image").status_code == 403
    token = csrf_from(client.get("/account").text)
    refused = client.post(
        f"/petitions/{slug}/image",
        data={"csrf_token": token, "alt": "x", "image": (io.BytesIO(images.png()), "a.png")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403
    assert client.post(f"/petitions/{slug}/image/remove", data={"csrf_token": token}).status_code == 403
    assert image_rows(app) == 0 and stored_files(app) == []


def test_replacing_and_removing_the_picture_deletes_the_old_files(app, owner, slug) -> None:
    upload(owner, slug, images.png())
    first, _ = shown(owner, slug)
    upload(owner, slug, images.webp(), alt="A blue sky")
    second, alt = shown(owner, slug)
    assert second != first and alt == "A blue sky"
    assert [p.name for p in stored_files(app) if p.name.startswith(first[:32])] == []
    assert owner.get(f"/images/{first}").status_code == 404

    token = csrf_from(owner.get(f"/petitions/{slug}/image").text)
    assert owner.post(f"/petitions/{slug}/image/remove", data={"csrf_token": token}).status_code == 303
    assert 'class="petition-image"' not in owner.get(f"/petitions/{slug}").text
    assert stored_files(app) == []
    page = owner.get(f"/petitions/{slug}").text
    assert f'property="og:image" content="http://localhost/petitions/{slug}/card.png' in page


def test_the_description_alone_can_change(app, owner, slug) -> None:
    upload(owner, slug, images.png(), alt="Green")
    token = csrf_from(owner.get(f"/petitions/{slug}/image").text)
    answer = owner.post(
        f"/petitions/{slug}/image",
        data={"csrf_token": token, "alt": "A green field"},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    assert shown(owner, slug)[1] == "A green field" and image_rows(app) == 1


def og_image(client: FlaskClient, slug: str) -> str:
    page = client.get(f"/petitions/{slug}").text
    match = re.search(r'<meta property="og:image" content="([^"]+)">', page)
    assert match and f'<meta name="twitter:image" content="{match.group(1)}">' in page
    return match.group(1)


def test_open_graph_points_at_the_picture_or_the_card(app, owner, slug) -> None:
    assert og_image(owner, slug).startswith(f"http://localhost/petitions/{slug}/card.png")
    upload(owner, slug, images.photo_with_gps(), alt="Our banner")
    url = og_image(owner, slug)
    assert re.fullmatch(r"http://localhost/images/[0-9a-f]{32}-card\.jpg", url)
    page = owner.get(f"/petitions/{slug}").text
    assert '<meta property="og:image:alt" content="Our banner">' in page
    card = owner.get(url.removeprefix("http://localhost"))
    assert card.mimetype == "image/jpeg" and Image.open(io.BytesIO(card.data)).size == (1200, 630)
    card.close()


def confirm_one(app: Flask, slug: str, email: str) -> None:
    from petitions.models import Petition

    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        signature = signing.sign(petition, signing.SignatureData("A", email, "GB"), now=utcnow(), ip=None)
        confirming.confirm(signature, now=utcnow())
        db.session.commit()


def test_the_card_is_a_1200_by_630_png_that_follows_the_count(app, client, slug) -> None:
    app.config["CARD_MAX_AGE"] = 0
    first = client.get(f"/petitions/{slug}/card.png")
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert Image.open(io.BytesIO(first.data)).size == (1200, 630)
    assert first.headers["Cache-Control"].startswith("public") and "Set-Cookie" not in first.headers
    again = client.get(f"/petitions/{slug}/card.png", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    confirm_one(app, slug, "sam@example.org")
    second = client.get(f"/petitions/{slug}/card.png")
    assert second.data != first.data and second.headers["ETag"] != first.headers["ETag"]


def test_the_card_draws_the_title_readers_of_its_language_read(app, client, owner, slug) -> None:
    app.config["CARD_MAX_AGE"] = 0
    before = client.get(f"/petitions/{slug}/card.png?lang=es").data
    english = client.get(f"/petitions/{slug}/card.png?lang=en").data
    page = owner.get(f"/account/petitions/{slug}/translations")
    saved = owner.post(
        f"/account/petitions/{slug}/translations",
        data={
            "language": "es",
            "title": "Dejen de vender reconocimiento facial a los gobiernos",
            "target": "La junta directiva",
            "summary": "Un resumen.",
            "body": "Un texto.",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 303
    spanish = client.get(f"/petitions/{slug}/card.png?lang=es").data
    assert spanish != before  # the same count, another title
    assert client.get(f"/petitions/{slug}/card.png?lang=en").data == english  # the original's readers: unchanged


def test_the_card_is_drawn_again_at_most_every_card_max_age(app, client, slug) -> None:
    app.config["CARD_MAX_AGE"] = 300
    first = client.get(f"/petitions/{slug}/card.png")
    assert "max-age=300" in first.headers["Cache-Control"]
    confirm_one(app, slug, "sam@example.org")
    assert client.get(f"/petitions/{slug}/card.png").data == first.data


@pytest.mark.parametrize(
    "title",
    ["Остановите продажу распознавания лиц", "Σταματήστε την αναγνώριση προσώπων", "停止向政府出售人脸识别技术"],
)
def test_cards_of_titles_in_other_scripts(app, client, title) -> None:
    with app.app_context():
        slug = make_petition(title=title).slug
    card = client.get(f"/petitions/{slug}/card.png")
    assert card.status_code == 200 and Image.open(io.BytesIO(card.data)).size == (1200, 630)


def test_the_card_of_a_petition_the_public_cannot_see_is_not_found(app, client) -> None:
    with app.app_context():
        slug = make_petition(make_user("draft@example.org", confirmed=False)).slug
    assert client.get(f"/petitions/{slug}/card.png").status_code == 404


def test_pictures_go_to_upload_dir_when_it_is_set(app, owner, slug, tmp_path) -> None:
    app.config["UPLOAD_DIR"] = str(tmp_path / "pictures")
    upload(owner, slug, images.png())
    name, _ = shown(owner, slug)
    assert (tmp_path / "pictures" / name[:2] / name).is_file() and stored_files(app) == []
    served = owner.get(f"/images/{name}")
    assert served.status_code == 200
    served.close()
