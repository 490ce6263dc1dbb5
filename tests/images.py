"""Pictures made for the image tests: real JPEG, PNG and WebP files, and the bad uploads they must refuse."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image

# Where the GPS position of the test photo says it was taken.
LATITUDE = (51.0, 30.0, 26.0)


def photo_with_gps(size: tuple[int, int] = (800, 600)) -> bytes:
    """A JPEG as a phone makes it: left half red, right half blue, stored sideways with Orientation 6
    (turn 90° clockwise to show) and a GPS position, a camera model and a comment in its EXIF."""
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Model] = "Test Phone 12"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"taken at home", quality=90)
    return out.getvalue()


def png(size: tuple[int, int] = (640, 480), colour: tuple[int, int, int, int] = (0, 128, 0, 255)) -> bytes:
    """A PNG with an alpha channel."""
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, "PNG")
    return out.getvalue()


def webp(size: tuple[int, int] = (1600, 900)) -> bytes:
    """A WebP larger than the page size."""
    out = io.BytesIO()
    Image.new("RGB", size, (10, 60, 200)).save(out, "WEBP")
    return out.getvalue()


def bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG of a few hundred bytes that declares ten billion pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="800" height="600">'
    b'<script>alert(document.cookie)</script><rect width="800" height="600" fill="red"/></svg>'
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TEXT = b"This is not a picture, whatever its name says.\n"
