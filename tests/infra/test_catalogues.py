"""The message catalogues in step with the code: messages.pot holds every marked message, and each
committed .mo file is its .po compiled. `make translations` brings both up to date."""

from __future__ import annotations

from io import BytesIO

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.helpers import ROOT

TRANSLATIONS = ROOT / "petitions" / "translations"
SHIPPED = ("es", "fr", "de")
# The keywords `make translations` gives pybabel beyond its defaults.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_text": None, "mail_text": None}


def _msgid(message: str | tuple[str, ...]) -> str:
    return message if isinstance(message, str) else message[0]


def test_the_template_holds_every_marked_message() -> None:
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    in_code = {
        _msgid(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        )
    }
    with open(TRANSLATIONS / "messages.pot", "rb") as pot:
        in_template = {_msgid(m.id) for m in read_po(pot) if m.id}
    assert in_code - in_template == set(), "messages not in messages.pot: run make translations"
    assert in_template - in_code == set(), "messages.pot holds messages the code no longer has: run make translations"


@pytest.mark.parametrize("lang", SHIPPED)
def test_each_compiled_catalogue_is_its_po_compiled(lang: str) -> None:
    folder = TRANSLATIONS / lang / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # what pybabel compile writes
    assert (folder / "messages.mo").read_bytes() == compiled.getvalue(), f"{lang}: messages.mo is stale"
