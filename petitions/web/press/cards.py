"""The share card of a petition without a picture: GET /petitions/<slug>/card.png (1200×630, title and count).

Open Graph and X/Twitter previews fetch it when the link is shared. Drawing one takes a tenth of a
second or more, and a viral petition's count changes many times a second, so each process keeps the
last card of a petition and draws it again only when what it shows has changed and it is older than
CARD_MAX_AGE; caches may keep it as long (max-age), and its ETag answers a revalidation with 304.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import format_decimal, get_locale, ngettext
from werkzeug.wrappers import Response

from petitions.campaigns import translations
from petitions.infra.cards import SHIPPED_FONT, draw_card
from petitions.web.http import cacheable
from petitions.web.i18n import languages
from petitions.web.press import bp
from petitions.web.queries import public_petition_or_404

# Cards kept per process; past this many the cache empties itself (the hot ones are drawn again).
CACHE_SIZE = 500


class CardCache:
    """The last card drawn of each petition in each language: (drawn at, what it shows, PNG)."""

    def __init__(self) -> None:
        """An empty cache."""
        self.lock = threading.Lock()
        self.cards: dict[str, tuple[float, tuple[str, ...], bytes]] = {}

    def get(self, key: str, shows: tuple[str, ...], max_age: float, now: float) -> bytes | None:
        """The card kept under the key (a slug and a language), if it shows this, or if it is younger than max_age."""
        kept = self.cards.get(key)
        if kept is not None and (kept[1] == shows or now - kept[0] < max_age):
            return kept[2]
        return None

    def put(self, key: str, shows: tuple[str, ...], png: bytes, now: float) -> None:
        """Keep a card just drawn."""
        with self.lock:
            if len(self.cards) >= CACHE_SIZE:
                self.cards.clear()
            self.cards[key] = (now, shows, png)


def fonts() -> list[Path]:
    """The shipped font, then the operator's CARD_FONTS that exist."""
    extra = [Path(p.strip()) for p in str(current_app.config["CARD_FONTS"]).split(",") if p.strip()]
    return [SHIPPED_FONT, *(p for p in extra if p.is_file())]


@bp.get("/petitions/<slug>/card.png")
def card(slug: str) -> Response:
    """The petition's share card, in the language of ?lang= (else DEFAULT_LOCALE), its title translated
    when the campaigner translated it; cacheable by anyone."""
    petition = public_petition_or_404(slug)
    locale = str(get_locale())
    # The title as readers of that language read it (campaigns/translations), as the page shows it.
    title = translations.text_for(
        petition, locale, default=current_app.config["DEFAULT_LOCALE"], languages=languages()
    ).title
    count = petition.signature_count
    count_line = ngettext("%(n)s signature", "%(n)s signatures", count, n=format_decimal(count))
    footer = urlsplit(current_app.config["BASE_URL"]).netloc
    shows = (title, count_line, footer)
    cache: CardCache = current_app.extensions.setdefault("share_cards", CardCache())
    max_age = current_app.config["CARD_MAX_AGE"]
    now = time.monotonic()
    key = f"{slug} {locale}"
    png = cache.get(key, shows, max_age, now)
    if png is None:
        png = draw_card(title, count_line, footer, fonts=fonts())
        cache.put(key, shows, png, now)
    response = current_app.response_class(png, mimetype="image/png")
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return cacheable(response, max_age=max_age, stale=0)
