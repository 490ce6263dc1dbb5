"""User text turned into safe HTML, and into one line where one line is all it may take."""

import re
from html.parser import HTMLParser

import markdown
import nh3

# Line breaks (CR, LF, NEL, U+2028/2029), tabs and every other control character, with the
# spaces around them: what a one-line value (a name, a title) may never hold.
_BREAK = re.compile(r"\s*[\x00-\x1f\x7f-\x9f\u2028\u2029][\s\x00-\x1f\x7f-\x9f\u2028\u2029]*")


def one_line(value: str) -> str:
    """The value on one line: each run of line breaks or other control characters becomes one space.

    What a browser does with a line break pasted into a one-line field. Applied to every
    one-line form field (fields.LineField), and again where names and titles are written into
    an email, for rows stored before that.
    """
    return _BREAK.sub(" ", value)


_TAGS = {
    "p",
    "br",
    "hr",
    "h2",
    "h3",
    "h4",
    "strong",
    "em",
    "b",
    "i",
    "blockquote",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


def render_markdown(source: str) -> str:
    """Markdown to HTML, cleaned by an allow-list: no script, no event handlers, no javascript: links.

    Markdown passes raw HTML through, so the output is always cleaned. Headings start at h2
    because the petition's title is the page's h1.
    """
    html = markdown.markdown(source, extensions=["sane_lists", "tables"], output_format="html")
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer ugc",
    )


_URL_SCHEMES = {"http", "https", "mailto"}


class _MarkupCheck(HTMLParser):
    """Collects what render_markdown's allow-list would take out of Markdown's raw output."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refused: list[str] = []

    def _refuse(self, what: str) -> None:
        if what not in self.refused:
            self.refused.append(what)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            self._refuse(f"<{tag}>")
            return
        for name, value in attrs:
            # Other attributes the allow-list drops (Markdown's own table alignment styles) change nothing.
            if name.startswith("on"):
                self._refuse(f"{name}=")
            elif name == "href" and value:
                scheme = value.strip().partition(":")[0].lower() if ":" in value.split("/", 1)[0] else ""
                if scheme and scheme not in _URL_SCHEMES:
                    self._refuse(f"{scheme}:")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def refused_markup(source: str) -> list[str]:
    """What render_markdown would silently remove from this Markdown: tags, attributes, link schemes.

    Empty for plain Markdown. Where a silent clean-up would change what someone else's words say
    (the target's response), the form refuses such text instead, naming what it found.
    """
    html = markdown.markdown(source, extensions=["sane_lists", "tables"], output_format="html")
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    check = _MarkupCheck()
    check.feed(html)
    check.close()
    return check.refused
