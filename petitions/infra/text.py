"""User text turned into safe HTML, and into one line where one line is all it may take."""

import re

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
