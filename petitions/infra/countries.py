"""ISO 3166-1 alpha-2 countries, for the signing form and the counts."""

from functools import cache

import pycountry


@cache
def countries() -> list[tuple[str, str]]:
    """(code, name) pairs sorted by name."""
    pairs = [(c.alpha_2, getattr(c, "common_name", None) or c.name) for c in pycountry.countries]
    return sorted(pairs, key=lambda pair: pair[1])


@cache
def country_names() -> dict[str, str]:
    """Name by code."""
    return dict(countries())


def is_country(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code."""
    return code in country_names()
