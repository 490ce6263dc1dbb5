"""infra/images.py and infra/cards.py without HTTP: what a picture becomes, what is refused, the card's text."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from petitions.infra import cards
from petitions.infra.images import ImageRejected, file_names, parse_file_name, process
from tests import images

CAP = 40_000_000


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_the_same_picture_gets_the_same_names_and_each_file_its_size() -> None:
    first, again = process(images.webp(), max_pixels=CAP), process(images.webp(), max_pixels=CAP)
    assert first.key == again.key and first.files == again.files
    names = file_names(first.key)
    assert decoded(first.files[names["page"]]).size == (1200, 675) == (first.width, first.height)
    assert decoded(first.files[names["small"]]).size == (600, 338)
    assert decoded(first.files[names["card"]]).size == (1200, 630)
    assert {decoded(data).format for data in first.files.values()} == {"WEBP", "JPEG"}


def test_a_colour_profile_is_applied_then_dropped() -> None:
    picture = Image.new("RGB", (300, 200), (30, 140, 60))
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    picture.save(out, "JPEG", icc_profile=profile)
    assert decoded(out.getvalue()).info.get("icc_profile")
    processed = process(out.getvalue(), max_pixels=CAP)
    for data in processed.files.values():
        assert "icc_profile" not in decoded(data).info


def test_transparency_stays_on_the_page_and_turns_white_on_the_card() -> None:
    processed = process(images.png(colour=(0, 0, 0, 0)), max_pixels=CAP)
    names = file_names(processed.key)
    assert decoded(processed.files[names["page"]]).mode == "RGBA"
    card = decoded(processed.files[names["card"]]).convert("RGB")
    assert min(card.getpixel((600, 300))) > 245


def test_an_animation_keeps_its_first_frame_and_cmyk_becomes_rgb() -> None:
    frames = [Image.new("RGB", (400, 300), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    processed = process(out.getvalue(), max_pixels=CAP)
    page = decoded(processed.files[file_names(processed.key)["page"]]).convert("RGB")
    assert getattr(page, "n_frames", 1) == 1 and page.getpixel((200, 150))[0] > 200

    cmyk = io.BytesIO()
    Image.new("CMYK", (300, 300), (0, 255, 255, 0)).save(cmyk, "JPEG")
    red = process(cmyk.getvalue(), max_pixels=CAP)
    card = decoded(red.files[file_names(red.key)["card"]])
    assert card.mode == "RGB" and card.getpixel((600, 300))[0] > 200


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP"])
def test_other_formats_pillow_knows_are_refused(fmt: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (1, 2, 3)).save(out, fmt)
    with pytest.raises(ImageRejected, match="not a JPEG, PNG or WebP"):
        process(out.getvalue(), max_pixels=CAP)


def test_the_pixel_cap_is_our_own_below_pillows() -> None:
    with pytest.raises(ImageRejected, match="too many pixels"):
        process(images.png((2000, 1000)), max_pixels=1_000_000)
    assert process(images.png((1000, 1000)), max_pixels=1_000_000).width == 1000


@pytest.mark.parametrize(
    "name", ["../../secret_key", "x" * 32 + ".webp", "0" * 32 + "-card.webp", "0" * 32 + ".jpg", "0" * 32 + ".webp/x"]
)
def test_file_names_other_than_ours_are_not_parsed(name: str) -> None:
    assert parse_file_name(name) is None


def test_our_file_names_are_parsed() -> None:
    assert parse_file_name("0" * 32 + "-card.jpg") == ("0" * 32, "image/jpeg")
    assert parse_file_name("a" * 32 + "-600.webp") == ("a" * 32, "image/webp")


def test_a_title_the_shipped_font_cannot_draw_is_left_off_the_card() -> None:
    fonts = [cards.SHIPPED_FONT]
    assert cards.font_for("Остановите продажу", fonts) == str(cards.SHIPPED_FONT)
    assert cards.font_for("Σταματήστε", fonts) == str(cards.SHIPPED_FONT)
    assert cards.font_for("停止向政府出售", fonts) is None
    with_title = cards.draw_card("Stop it", "1 signature", "example.org", fonts=fonts)
    without = cards.draw_card("停止向政府出售", "1 signature", "example.org", fonts=fonts)
    bare = cards.draw_card("", "1 signature", "example.org", fonts=fonts)
    assert without == bare != with_title
    assert decoded(without).size == (1200, 630)


def test_a_long_title_is_cut_with_an_ellipsis_within_four_lines() -> None:
    font, lines = cards._fit_title("word " * 200, str(cards.SHIPPED_FONT))
    assert len(lines) == cards.TITLE_LINES and lines[-1].endswith("…")
    assert all(font.getlength(line) <= cards.WIDTH - 2 * cards.MARGIN for line in lines)
