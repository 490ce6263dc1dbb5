"""Dates and times as a language writes them (CLDR's patterns, through Babel), always in UTC.

The pages say "UTC" after a time themselves (their messages hold it); these give the date and the
time in the order, words and punctuation of the language: "March 1, 2025" and "1. März 2025",
"Mar 1, 2025, 14:05" and "1 mar 2025, 14:05".
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from babel import Locale, dates


def day(value: date | datetime, locale: Locale | str) -> str:
    """A day written in full: March 1, 2025 (en), 1. März 2025 (de), 1 de marzo de 2025 (es)."""
    return dates.format_skeleton("yMMMMd", value, tzinfo=UTC, locale=locale)


def day_short(value: date | datetime, locale: Locale | str) -> str:
    """A day without its year, for a chart's axis: Mar 1 (en), 1. März (de), 1 mars (fr)."""
    return dates.format_skeleton("MMMd", value, tzinfo=UTC, locale=locale)


def clock(value: datetime, locale: Locale | str) -> str:
    """The hour and minute, on the 24-hour clock every page says UTC beside: 14:05."""
    return dates.format_skeleton("Hm", value, tzinfo=UTC, locale=locale)


def moment(value: datetime, locale: Locale | str, *, short: bool = False) -> str:
    """A day and time of day, joined as the language joins them: Mar 1, 2025, 14:05 (en); short: without the year."""
    parsed = Locale.parse(locale)
    on = dates.format_skeleton("MMMd" if short else "yMMMd", value, tzinfo=UTC, locale=parsed)
    # CLDR's pattern for a date and a time together: {1} the date, {0} the time.
    pattern = str(parsed.datetime_formats["medium"])
    return pattern.replace("{1}", on).replace("{0}", clock(value, parsed))
