"""Prompts, responses and guidelines are untrusted: script, event handlers and
javascript: links must arrive as inert text, with nothing left for the
Content-Security-Policy to block (a CSP violation would mean the sanitizer
let something through)."""

import pytest

from annotation.models import Annotation, TaskType
from tests.browser.helpers import log_in, open_label_page, project_with_items, user, wait_next

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOAD = "\n\n".join([
    "Here is <script>window.__xss = 'script'</script> a script tag.",
    'An image: <img src="x" onerror="window.__xss = \'img\'">',
    "A [markdown link](javascript:window.__xss='md-link') and "
    "<a href=\"javascript:window.__xss='raw-link'\">a raw link</a>.",
    "<svg onload=\"window.__xss='svg'\"></svg><iframe src=\"javascript:window.__xss='iframe'\">"
    "</iframe>",
    '<div style="background:url(javascript:alert(1))" onmouseover="window.__xss=\'div\'">hover</div>',
    "[data link](data:text/html,<script>window.__xss='data'</script>)",
])

CONTENT = "#label-app"


def assert_inert(page):
    assert page.evaluate("window.__xss") is None, "an injected script ran"
    found = page.evaluate("""(root) => {
        const scope = document.querySelector(root);
        const bad = [];
        const tags = ['script', 'img', 'svg', 'iframe', 'object', 'embed', 'style'];
        for (const el of scope.querySelectorAll('*')) {
            const tag = el.tagName.toLowerCase();
            if (tags.includes(tag)) bad.push(tag);
            for (const attr of el.attributes) {
                const named = `${tag}[${attr.name}=${attr.value}]`;
                if (attr.name.startsWith('on') || attr.name === 'style') bad.push(named);
                if (/^\\s*(javascript|data|vbscript):/i.test(attr.value)) bad.push(named);
            }
        }
        return bad;
    }""", CONTENT)
    assert found == []
    assert page.evaluate("window.__cspViolations") == []


def test_script_img_and_javascript_links_render_as_inert_text(page, live_app):
    admin, lena = user("admin_ann"), user("lab_lena")
    project = project_with_items(
        admin=admin, labelers=[lena], guidelines=PAYLOAD,
        rows=[([{"role": "system", "content": PAYLOAD}, {"role": "user", "content": PAYLOAD}],
               [PAYLOAD, "A harmless answer."]),
              ("Second item", ["one", "two"])])
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, project)
    assert_inert(page)
    # The payload is visible as text, in the prompt and in the response.
    response_text = page.locator(".response [data-body]").all_inner_texts()
    assert any("<script>window.__xss = 'script'</script>" in text for text in response_text)
    assert any('<img src="x" onerror=' in text for text in response_text)
    assert "<script>" in page.locator("#turns").inner_text()
    assert page.locator("#turns .turn-role").all_text_contents() == ["System", "User"]
    # The Markdown link lost its javascript: target; clicking it does nothing.
    for link in page.locator("#judgement .md a").all():
        link.click()
    page.keyboard.press("d")  # the word diff view, built from the raw text
    assert_inert(page)
    page.keyboard.press("d")
    page.keyboard.press("g")  # the guidelines drawer
    assert "<script>" in page.locator("dialog#guidelines").inner_text()
    assert_inert(page)
    page.keyboard.press("Escape")
    # A rationale is plain text too, and the next item loads normally.
    page.keyboard.press("1")
    page.keyboard.press("r")
    page.keyboard.type("<img src=x onerror=\"window.__xss='rationale'\">")
    page.keyboard.press("Control+Enter")
    wait_next(page, first)
    assert_inert(page)
    assert Annotation.objects.get(assignment_id=first).rationale.startswith("<img src=x")


def test_ranking_cards_are_sanitized_too(page, live_app):
    admin, lena = user("admin_ann"), user("lab_lena")
    project = project_with_items(admin=admin, labelers=[lena], task_type=TaskType.RANKING,
                                 rows=[("Rank", [PAYLOAD, "b", "c", "d"])])
    log_in(page, live_app, "lab_lena")
    open_label_page(page, live_app, project)
    assert_inert(page)
    assert "<script>" in page.locator("#rank-list").inner_text()
