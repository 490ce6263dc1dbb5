"""ISO 3166-1 alpha-2 countries, named in the reader's language, for the signing form and the counts."""

import unicodedata
from collections.abc import Mapping
from functools import cache

import pycountry
from babel import Locale, UnknownLocaleError


@cache
def _codes() -> tuple[str, ...]:
    """Every assigned alpha-2 code (pycountry's list: the codes a signature may carry)."""
    return tuple(c.alpha_2 for c in pycountry.countries)


def _sort_key(name: str) -> str:
    """A name as a reader looks it up in a list: accents and case aside (Österreich beside Oman, Åland by A)."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@cache
def countries(locale: str = "en") -> list[tuple[str, str]]:
    """(code, name) pairs in the language of `locale` (CLDR's names, through Babel), sorted by that name.

    A code CLDR does not name in that language keeps pycountry's English name.
    """
    names: Mapping[str, str]
    try:
        names = Locale.parse(locale).territories
    except (UnknownLocaleError, ValueError):
        names = {}
    english = {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}
    pairs = [(code, names.get(code) or english[code]) for code in _codes()]
    return sorted(pairs, key=lambda pair: _sort_key(pair[1]))


@cache
def country_names(locale: str = "en") -> dict[str, str]:
    """Name by code, in the language of `locale`."""
    return dict(countries(locale))


def is_country(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code."""
    return code in _code_set()


@cache
def _code_set() -> frozenset[str]:
    return frozenset(_codes())
