"""Under MODERATION=pre a new picture of a public petition waits for a moderator; approving and rejecting it."""

from __future__ import annotations

import re

from tests import images
from tests.helpers import body_of, csrf_from, deliver, login, make_app, make_petition, make_user
from tests.web.test_images import shown, stored_files, upload


def test_a_new_picture_of_a_public_petition_waits_for_a_moderator(database_url, smtp_server, mailbox, tmp_path) -> None:
    app = make_app(database_url, smtp_server, tmp_path, MODERATION="pre")
    with app.app_context():
        slug = make_petition(make_user("owner@example.org")).slug  # opened (make_petition: post)
        make_user("admin@example.org", admin=True)
    owner, admin, anonymous = app.test_client(), app.test_client(), app.test_client()
    login(owner, "owner@example.org")
    login(admin, "admin@example.org")

    upload(owner, slug, images.png(), alt="First")
    page = owner.get(f"/petitions/{slug}/image").text
    assert 'id="image-pending"' in page and 'id="image-live"' not in page
    assert 'class="petition-image"' not in anonymous.get(f"/petitions/{slug}").text
    pending = re.search(r'id="image-pending">\s*<img src="/images/([^"]+)"', page).group(1)
    assert anonymous.get(f"/images/{pending}").status_code == 404  # not public until approved
    seen = owner.get(f"/images/{pending}")
    assert seen.status_code == 200 and "no-store" in seen.headers["Cache-Control"]
    seen.close()

    review = admin.get(f"/admin/petitions/{slug}").text
    image_id = re.search(r'action="/admin/images/(\d+)/approve"', review).group(1)
    assert 'id="pending-images"' in admin.get("/admin/queue").text
    approved = admin.post(f"/admin/images/{image_id}/approve", data={"csrf_token": csrf_from(review)})
    assert approved.status_code == 303
    assert shown(anonymous, slug)[1] == "First"

    # A second picture waits too; the first stays public meanwhile; rejected, its files go and the owner is told.
    upload(owner, slug, images.webp(), alt="Second")
    assert shown(anonymous, slug)[1] == "First"
    review = admin.get(f"/admin/petitions/{slug}").text
    image_id = re.search(r'action="/admin/images/(\d+)/reject"', review).group(1)
    rejected = admin.post(
        f"/admin/images/{image_id}/reject",
        data={"image-csrf_token": csrf_from(review), "image-reason": "A logo we may not use."},
    )
    assert rejected.status_code == 303
    assert shown(anonymous, slug)[1] == "First"
    assert "A logo we may not use." in owner.get(f"/petitions/{slug}/image").text
    assert len(stored_files(app)) == 3  # the first picture's files alone
    deliver(app)
    told = [m for m in mailbox.messages if m["To"] == "owner@example.org" and "not approved" in m["Subject"]]
    assert len(told) == 1 and "A logo we may not use." in body_of(told[0])


def test_an_administrators_picture_and_one_before_the_petition_is_public_show_at_once(
    database_url, smtp_server, mailbox, tmp_path
) -> None:
    app = make_app(database_url, smtp_server, tmp_path, MODERATION="pre")
    with app.app_context():
        make_user("owner@example.org")
    owner = app.test_client()
    login(owner, "owner@example.org")
    new = owner.get("/petitions/new")
    answer = owner.post(
        "/petitions/new",
        data={
            "csrf_token": csrf_from(new.text),
            "title": "Plant trees on our street",
            "target": "The council",
            "summary": "More shade.",
            "body": "Please plant trees.",
            "goal": "100",
        },
    )
    slug = answer.location.rsplit("/", 1)[-1]
    upload(owner, slug, images.png(), alt="A street")
    # Reviewed with the petition itself: the owner and the moderator see it on the petition as it will open.
    assert shown(owner, slug)[1] == "A street"
