"""Every shipped catalogue is complete: each message of messages.pot translated, none fuzzy, and the
placeholders of each translation the ones its message has (a missing %(name)s loses a value, an
unknown one breaks the page)."""

from __future__ import annotations

import re

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from tests.helpers import ROOT

TRANSLATIONS = ROOT / "petitions" / "translations"
SHIPPED = ("es", "fr", "de")
PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdr]|\{[A-Za-z_][A-Za-z0-9_]*\}")
# What % formatting reads: %% (a literal %) and named placeholders; any other % makes it fail.
FORMATTING = re.compile(r"%%|%\([A-Za-z_][A-Za-z0-9_]*\)[sdr]")


def _read(path) -> Catalog:
    with open(path, "rb") as fh:
        return read_po(fh)


def _key(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _forms(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return [""]
    return [value] if isinstance(value, str) else list(value)


def _formatted(message: Message) -> bool:
    """Whether % formatting runs on the translation: always in templates, in Python when it has values."""
    in_templates = any(path.startswith("templates/") for path, _line in message.locations)
    return in_templates or any("%(" in form for form in _forms(message.id))


def _problems(lang: str) -> list[str]:
    template = _read(TRANSLATIONS / "messages.pot")
    catalog = _read(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po")
    problems = []
    for wanted in template:
        if not wanted.id:
            continue
        key = _key(wanted)
        message = catalog.get(wanted.id, context=wanted.context)
        if message is None:
            problems.append(f"missing from {lang}: {key!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy in {lang}: {key!r}")
        translations = _forms(message.string)
        if wanted.pluralizable and len(translations) != catalog.num_plurals:
            problems.append(f"{lang} needs {catalog.num_plurals} plural forms: {key!r}")
        if not all(t.strip() for t in translations):
            problems.append(f"untranslated in {lang}: {key!r}")
            continue
        originals = _forms(wanted.id)
        allowed = set().union(*(PLACEHOLDER.findall(o) for o in originals))
        for i, text in enumerate(translations):
            found = set(PLACEHOLDER.findall(text))
            # A singular may leave out the number ("une signature"); the other forms keep every value.
            needed = set(PLACEHOLDER.findall(originals[-1])) if i > 0 or not wanted.pluralizable else set()
            if not wanted.pluralizable:
                needed = allowed
            if found - allowed or needed - found:
                problems.append(f"placeholders differ in {lang}: {key!r} has {sorted(allowed)}, {text!r}")
            if _formatted(wanted) and "%" in FORMATTING.sub("", text):
                problems.append(f"a lone % (write %%) in {lang}: {text!r}")
    return problems


@pytest.mark.parametrize("lang", SHIPPED)
def test_the_catalogue_is_complete(lang: str) -> None:
    problems = _problems(lang)
    shown = "\n".join(problems[:40])
    assert not problems, f"{len(problems)} problem(s) in the {lang} catalogue, the first:\n{shown}"
