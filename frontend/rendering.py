"""Untrusted text to safe HTML: Markdown with highlighted code, and word diffs.

Every prompt, response and guideline is rendered here, on the server. Two
independent layers keep it inert:

1. Markdown never passes raw HTML through: the extension below removes
   Python-Markdown's raw-HTML block and inline handlers, so ``<script>`` in a
   model output is escaped and shows as text.
2. The output is then cleaned by nh3 (ammonia) against a small allowlist of
   tags, attributes, classes and URL schemes (no ``on*`` attributes, no
   ``javascript:`` links, no images, no relative links, no inline styles).

The pages also send a strict Content-Security-Policy (see ``middleware.py``),
so even a sanitizer bug would not run injected script.
"""

import difflib
import re
from functools import lru_cache

import markdown
import nh3
from django.utils.html import escape
from markdown.extensions import Extension
from pygments.token import STANDARD_TYPES

ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
# Only the classes Pygments emits (token classes) and the code block wrapper.
ALLOWED_CLASSES = {"span": {c for c in STANDARD_TYPES.values() if c}, "div": {"codehilite"}}
URL_SCHEMES = {"http", "https", "mailto"}

# Word-level diff limits: difflib is quadratic in the worst case.
DIFF_MAX_TOKENS = 6000
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


class _EscapeRawHtml(Extension):
    """Treat raw HTML in Markdown as text (the documented way since Markdown 3)."""

    def extendMarkdown(self, md):  # noqa: N802 - Markdown's API name
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        url_relative="deny",
        link_rel="noopener noreferrer nofollow ugc",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


def html_sanitize(html: str) -> str:
    """Clean an HTML fragment against the allowlist."""
    return _cleaner().clean(html)


def markdown_render(text: str) -> str:
    """Untrusted Markdown to sanitized HTML with Pygments-highlighted code blocks."""
    # A fresh converter per call: Markdown instances keep state and are not
    # thread-safe; building one costs well under a millisecond.
    converter = markdown.Markdown(
        extensions=[_EscapeRawHtml(), "fenced_code", "codehilite", "tables", "sane_lists"],
        extension_configs={"codehilite": {"guess_lang": False, "css_class": "codehilite"}},
        output_format="html",
    )
    return html_sanitize(converter.convert(text or ""))


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(left: str, right: str) -> tuple[str, str, float] | None:
    """Word-level diff of two texts as escaped HTML for each side, plus their
    similarity (0..1). Removed words are marked on the left, added words on
    the right. None when the texts are too long to diff quickly."""
    a, b = _tokens(left), _tokens(right)
    if len(a) > DIFF_MAX_TOKENS or len(b) > DIFF_MAX_TOKENS:
        return None
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    out_a: list[str] = []
    out_b: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        chunk_a, chunk_b = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if op == "equal":
            out_a.append(chunk_a)
            out_b.append(chunk_b)
            continue
        if chunk_a:
            out_a.append(f'<mark class="diff-del">{chunk_a}</mark>')
        if chunk_b:
            out_b.append(f'<mark class="diff-ins">{chunk_b}</mark>')
    return "".join(out_a), "".join(out_b), round(matcher.ratio(), 3)
