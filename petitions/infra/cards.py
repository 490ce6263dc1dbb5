"""The share card of a petition without a picture: a 1200×630 PNG with its title and its count.

Drawn with Pillow in a font shipped with the site (static/fonts, DejaVu Sans Bold: Latin, Greek,
Cyrillic, Armenian, Georgian, Hebrew, Arabic and more), so a fresh machine draws the same card.
Fonts for other scripts (CJK, Indic, Thai...) can be added by the operator (CARD_FONTS); a title that
no font covers entirely is left off the card rather than drawn as empty boxes: the shared link's
preview still carries the title as text (og:title).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

WIDTH, HEIGHT = 1200, 630
MARGIN = 72
BACKGROUND = (0, 90, 48)  # the site's green (static/css/site.css), darker for white text
TEXT = (255, 255, 255)
ACCENT = (255, 221, 0)
# Title sizes tried from the largest down, until the title fits in TITLE_LINES lines.
TITLE_SIZES = (64, 56, 48, 42, 36)
TITLE_LINES = 4
SHIPPED_FONT = Path(__file__).resolve().parent.parent.parent / "static" / "fonts" / "DejaVuSans-Bold.ttf"


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=16)
def _missing_glyph(path: str) -> tuple[tuple[int, int], bytes]:
    """What the font draws for a character it lacks (its .notdef glyph), from a code point no font maps."""
    mask = _font(path, 40).getmask("\U000f0000")
    return mask.size, bytes(mask)


@lru_cache(maxsize=65536)
def _has_glyph(path: str, char: str) -> bool:
    mask = _font(path, 40).getmask(char)
    return (mask.size, bytes(mask)) != _missing_glyph(path)


def _drawn(char: str) -> bool:
    """False for what needs no glyph of its own: spaces, joiners and other format characters."""
    return not char.isspace() and unicodedata.category(char) not in ("Cf", "Cc")


def _right_to_left(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def font_for(text: str, fonts: Sequence[Path]) -> str | None:
    """The first font that draws every character of the text, or None.

    Right-to-left text needs Pillow's complex layout (libraqm with FriBiDi) to come out in the right
    order and, for Arabic, joined; without it such text counts as not drawable.
    """
    if _right_to_left(text) and not features.check("raqm"):
        return None
    for font in fonts:
        path = str(font)
        if all(_has_glyph(path, c) for c in text if _drawn(c)):
            return path
    return None


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines of at most `width` pixels, broken between words, or inside a word longer than a line
    (scripts written without spaces, such as Chinese, are one long word)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        while font.getlength(word) > width:
            cut = max(1, next((i for i in range(len(word), 0, -1) if font.getlength(word[:i]) <= width), 1))
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def _fit_title(title: str, path: str) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size at which the title fits; at the smallest, the lines beyond the last end in '…'."""
    for size in TITLE_SIZES:
        font = _font(path, size)
        lines = _wrap(title, font, WIDTH - 2 * MARGIN)
        if len(lines) <= TITLE_LINES:
            return font, lines
    kept = lines[:TITLE_LINES]
    last = kept[-1]
    while last and font.getlength(last + "…") > WIDTH - 2 * MARGIN:
        last = last[:-1]
    kept[-1] = last.rstrip() + "…"
    return font, kept


def draw_card(title: str, count_line: str, footer: str, *, fonts: Sequence[Path]) -> bytes:
    """The card as PNG bytes: the title (when a font draws it), the count line, and a footer (the site)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = MARGIN
    title_font = font_for(title, fonts)
    if title_font is not None:
        font, lines = _fit_title(title, title_font)
        rtl = _right_to_left(title)
        step = int(font.size * 1.25)
        for line in lines:
            if rtl:
                draw.text((WIDTH - MARGIN, y), line, font=font, fill=TEXT, anchor="ra")
            else:
                draw.text((MARGIN, y), line, font=font, fill=TEXT)
            y += step
    # The count and the footer are in the site's own words and numbers, which the shipped font draws.
    shipped = str(fonts[0])
    count_font = _font(font_for(count_line, fonts) or shipped, 56)
    draw.text((MARGIN, HEIGHT - MARGIN - 120), count_line, font=count_font, fill=ACCENT)
    footer_font = _font(font_for(footer, fonts) or shipped, 30)
    draw.text((MARGIN, HEIGHT - MARGIN - 30), footer, font=footer_font, fill=TEXT)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
