"""Pictures people upload: proven to be pictures by decoding them, cleaned, resized, stored by content.

Nothing here trusts a file's name or the Content-Type its browser sent: the bytes are decoded by
Pillow, which is allowed to try JPEG, PNG and WebP only (not SVG, which can carry script, nor PDF,
GIF, TIFF or the dozens of formats Pillow knows). Every file stored is re-encoded from the decoded
pixels, so nothing of the upload but its pixels survives: no EXIF (GPS position, camera, date), no
XMP, no comments, no ICC profile (the colours are converted to sRGB first).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _
from PIL import Image, ImageCms, ImageOps

from petitions.exceptions import DomainError

# The formats a petition's picture may come in; anything else is refused, whatever it is called.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# The sizes the site uses. The page shows at most PAGE_BOX (a wide column, twice for sharp screens),
# and SMALL_BOX to narrow screens (srcset); CARD_SIZE is what Open Graph and X/Twitter ask for.
PAGE_BOX = (1200, 1200)
SMALL_BOX = (600, 600)
CARD_SIZE = (1200, 630)
SMALL_WIDTH = SMALL_BOX[0]
# A picture smaller than this on either side is too small to show on a page or a card.
MIN_SIDE = 100

# The stored files of one upload: <key>.webp (page), <key>-600.webp (narrow screens), <key>-card.jpg.
_FILE = re.compile(r"^(?P<key>[0-9a-f]{32})(?P<size>-600|-card)?\.(?P<ext>webp|jpg)$")
_TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}


class ImageRejected(DomainError):
    """The upload is not a picture the site takes; the message says why, for the person who sent it."""


@dataclass(frozen=True)
class Processed:
    """A cleaned picture: the key naming its files, the page size's pixels, and each file's bytes by name."""

    key: str
    width: int
    height: int
    files: dict[str, bytes]


def file_names(key: str) -> dict[str, str]:
    """The names of the stored files of one picture, by use: page, small, card."""
    return {"page": f"{key}.webp", "small": f"{key}-600.webp", "card": f"{key}-card.jpg"}


def parse_file_name(name: str) -> tuple[str, str] | None:
    """(key, content type) of a stored file's name, or None when it cannot be one (no path tricks pass)."""
    match = _FILE.match(name)
    if match is None or (match["size"] == "-card") != (match["ext"] == "jpg"):
        return None
    return match["key"], _TYPES[match["ext"]]


def process(data: bytes, *, max_pixels: int) -> Processed:
    """Decode an upload, refuse what is not a sound JPEG, PNG or WebP picture, and make the stored files.

    `max_pixels` caps width × height before anything is decoded (a small file can declare a picture
    of billions of pixels: a decompression bomb); Pillow's own Image.MAX_IMAGE_PIXELS is a second guard.
    Raises ImageRejected with a message for the uploader.
    """
    if not data:
        raise ImageRejected(_("The file is empty. Please choose a picture."))
    # Pillow's own guard, at the same cap: it warns past it and refuses past twice it, while opening.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(_too_many_pixels(max_pixels)) from None
    except Exception:  # Pillow raises many kinds for bytes it cannot identify; all mean "not a picture"
        raise ImageRejected(
            _("This file is not a JPEG, PNG or WebP picture. Please choose a photo or an image.")
        ) from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRejected(_too_many_pixels(max_pixels))
        try:
            image.seek(0)  # an animated PNG or WebP: its first frame
            if image.format == "JPEG":
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale when that still covers the largest size used:
                # a 48-megapixel photo then takes a sixteenth of the memory.
                image.draft("RGB", PAGE_BOX)
            image.load()
            picture = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected(_too_many_pixels(max_pixels)) from None
        except Exception:  # truncated or corrupt data: decoders raise OSError, SyntaxError, ValueError...
            raise ImageRejected(
                _("This picture is damaged or incomplete and cannot be read. Please upload it again.")
            ) from None
    if min(picture.size) < MIN_SIDE:
        raise ImageRejected(
            _("This picture is too small (at least %(min)s pixels on each side, please).", min=MIN_SIDE)
        )
    picture = _in_srgb(picture)
    page = picture.copy()
    page.thumbnail(PAGE_BOX, Image.Resampling.LANCZOS)
    small = page.copy()
    small.thumbnail(SMALL_BOX, Image.Resampling.LANCZOS)
    card = ImageOps.fit(_flattened(picture), CARD_SIZE, Image.Resampling.LANCZOS)
    page_bytes = _encode(page, "WEBP", quality=82, method=4)
    key = hashlib.sha256(page_bytes).hexdigest()[:32]
    names = file_names(key)
    files = {
        names["page"]: page_bytes,
        names["small"]: _encode(small, "WEBP", quality=80, method=4),
        names["card"]: _encode(card, "JPEG", quality=85, optimize=True, progressive=True),
    }
    return Processed(key=key, width=page.width, height=page.height, files=files)


def _too_many_pixels(max_pixels: int) -> str:
    megapixels = f"{max_pixels / 1_000_000:g}"
    return _(
        "This picture has too many pixels (at most %(megapixels)s million). Please send a smaller one.",
        megapixels=megapixels,
    )


def _in_srgb(picture: Image.Image) -> Image.Image:
    """RGB or RGBA pixels, in sRGB when the file said which colours its numbers mean (an ICC profile)."""
    alpha = picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info)
    mode = "RGBA" if alpha else "RGB"
    icc = picture.info.get("icc_profile")
    if icc and picture.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(picture, source, ImageCms.createProfile("sRGB"), outputMode=mode)
            if converted is not None:
                picture = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: the numbers are taken as sRGB, as browsers do
    return picture if picture.mode == mode else picture.convert(mode)


def _flattened(picture: Image.Image) -> Image.Image:
    """The picture on white, for JPEG, which has no transparency."""
    if picture.mode != "RGBA":
        return picture
    background = Image.new("RGB", picture.size, (255, 255, 255))
    background.paste(picture, mask=picture.getchannel("A"))
    return background


def _encode(picture: Image.Image, fmt: str, **options: object) -> bytes:
    """The picture encoded from its pixels alone: no metadata is carried over from the upload."""
    picture.info = {}
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


# --- storage ---------------------------------------------------------------------------------


def path_of(folder: Path, name: str) -> Path:
    """Where a stored file lives: a sub-folder by the first two characters of its key keeps folders small."""
    return folder / name[:2] / name


def store(folder: Path, files: dict[str, bytes]) -> None:
    """Write the files; one already there has the same bytes (its name is their hash) and is kept."""
    for name, data in files.items():
        path = path_of(folder, name)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a reader never sees half a file, even while another upload writes it.
        temporary = path.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)


def delete(folder: Path, names: Iterable[str]) -> None:
    """Remove stored files; one already gone is fine."""
    for name in names:
        path_of(folder, name).unlink(missing_ok=True)
