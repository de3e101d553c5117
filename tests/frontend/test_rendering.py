"""Untrusted Markdown becomes inert, sanitized HTML."""

import re

import pytest

from frontend.rendering import html_sanitize, markdown_render, word_diff


@pytest.mark.parametrize("payload", [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<svg onload="alert(1)"></svg>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">x</a>',
])
def test_raw_html_in_markdown_is_shown_as_text(payload):
    html = markdown_render(f"before {payload} after")
    assert "<script" not in html.lower()
    assert "<img" not in html and "<svg" not in html and "<iframe" not in html
    assert "&lt;" in html  # escaped, so the labeler sees what the model wrote


@pytest.mark.parametrize("link", [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
])
def test_markdown_links_to_script_urls_lose_their_target(link):
    html = markdown_render(link)
    assert re.findall(r"""\s(?:href|src)\s*=""", html) == []


def test_safe_links_are_kept_and_open_apart():
    html = markdown_render("[docs](https://example.com/a?b=1)")
    assert 'href="https://example.com/a?b=1"' in html
    assert 'rel="noopener noreferrer nofollow ugc"' in html
    assert 'target="_blank"' in html


def test_relative_links_are_dropped():
    # A relative link would point into Palate itself (e.g. the logout URL).
    assert "href" not in markdown_render("[out](/logout/)")


@pytest.mark.parametrize("html", [
    '<p onclick="alert(1)" onmouseover="x()">hi</p>',
    '<a href="javascript:alert(1)" onfocus="x()">x</a>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<script>alert(1)</script><style>body{}</style>",
    '<img src="https://example.com/x.png">',
    '<form action="/logout/"><button>x</button></form>',
])
def test_sanitizer_strips_script_event_handlers_styles_and_script_urls(html):
    clean = html_sanitize(html)
    lowered = clean.lower()
    for needle in ("<script", "onclick", "onmouseover", "onfocus", "javascript:", "style",
                   "<img", "<form", "alert(1)</script"):
        assert needle not in lowered


def test_unknown_classes_are_dropped_but_code_highlighting_stays():
    assert html_sanitize('<span class="k evil">x</span>') == '<span class="k">x</span>'
    html = markdown_render("```python\ndef f(x):\n    return x  # <b>\n```")
    assert '<div class="codehilite">' in html
    assert '<span class="k">def</span>' in html
    assert "&lt;b&gt;" in html


def test_markdown_basics_render():
    html = markdown_render("**bold** and `code`\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert "<li>one</li>" in html and "<table>" in html


def test_word_diff_marks_changed_words_and_escapes():
    left, right, similarity = word_diff("The cat <b>sat</b> here.", "The dog <b>sat</b> here.")
    assert '<mark class="diff-del">cat</mark>' in left
    assert '<mark class="diff-ins">dog</mark>' in right
    assert "&lt;b&gt;sat&lt;/b&gt;" in left and "<b>" not in left + right
    assert 0.5 < similarity < 1


def test_word_diff_gives_up_on_huge_texts():
    assert word_diff("word " * 5000, "word " * 5000) is None
