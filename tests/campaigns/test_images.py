"""A petition's picture without HTTP: which one shows, reviews, and which files stay on disk."""

from __future__ import annotations

from pathlib import Path

from petitions.campaigns import images
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.infra.images import file_names, path_of, process
from petitions.moderation import images as image_review
from tests import images as samples
from tests.helpers import make_petition, make_user


def on_disk(folder: Path, key: str) -> bool:
    return all(path_of(folder, name).is_file() for name in file_names(key).values())


def test_a_picture_two_petitions_share_is_kept_until_neither_uses_it(ctx, tmp_path) -> None:
    folder = tmp_path / "uploads"
    picture = process(samples.png(), max_pixels=40_000_000)
    first, second = make_petition(), make_petition()
    for petition in (first, second):
        images.set_image(petition, picture, alt="Same", editor=None, now=utcnow(), moderation="post", folder=folder)
    db.session.commit()

    keys = images.remove_image(first, now=utcnow())
    db.session.commit()
    images.discard_unused(folder, keys)
    assert images.live_image(first) is None and on_disk(folder, picture.key)

    keys = images.remove_image(second, now=utcnow())
    db.session.commit()
    images.discard_unused(folder, keys)
    assert not on_disk(folder, picture.key)


def test_under_post_a_new_picture_shows_at_once_and_flags_the_petition(ctx, tmp_path) -> None:
    petition = make_petition()
    assert petition.edited_since_review_at is None
    picture = process(samples.png(), max_pixels=40_000_000)
    owner = petition.owner
    image = images.set_image(petition, picture, alt="A", editor=owner, now=utcnow(), moderation="post", folder=tmp_path)
    db.session.commit()
    assert image.status == "live" and petition.edited_since_review_at is not None


def test_under_pre_one_picture_waits_and_a_newer_one_replaces_it(ctx, tmp_path) -> None:
    petition = make_petition()
    owner, admin = petition.owner, make_user("admin@example.org", admin=True)
    blue, green = process(samples.webp(), max_pixels=40_000_000), process(samples.png(), max_pixels=40_000_000)
    first = images.set_image(petition, blue, alt="Blue", editor=owner, now=utcnow(), moderation="pre", folder=tmp_path)
    second = images.set_image(
        petition, green, alt="Green", editor=owner, now=utcnow(), moderation="pre", folder=tmp_path
    )
    db.session.commit()
    assert (first.status, second.status) == ("replaced", "pending")
    assert images.live_image(petition) is None and images.pending_image(petition) is second

    image_review.approve_image(second, admin, now=utcnow())
    db.session.commit()
    assert images.live_image(petition) is second and images.pending_image(petition) is None

    # An administrator's own picture shows at once.
    mine = images.set_image(petition, blue, alt="Blue", editor=admin, now=utcnow(), moderation="pre", folder=tmp_path)
    db.session.commit()
    assert mine.status == "live" and second.status == "replaced"
