"""The web page in a real browser: ask, read the verdict, open a cited passage (slow)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from ragqa.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
QUESTION = "Is microdosing of ketamine effective for treating psychological disorders?"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (`make browser`) to run this test"
        print(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (375, 812)])
def test_ask_and_open_a_cited_passage(browser, corpus_server, artifacts, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(corpus_server.url + "/")
        page.wait_for_function("document.querySelector('#index-version').textContent !== 'not loaded'")
        assert page.text_content("#index-version") == corpus_server.manifest["index_version"]

        page.fill("#question", QUESTION)
        page.click("#ask")
        page.wait_for_selector("#verdict li", timeout=60_000)
        verdict = page.inner_text("#verdict")
        assert "microdos" in verdict.lower()
        # the corpus has no ketamine microdosing study: the regimen check says so plainly
        assert page.is_visible("#regimen-banner")
        assert "not" in page.inner_text("#regimen-banner").lower()
        assert page.locator("#regimen-table tbody tr").count() >= 1
        clipped = page.evaluate(
            "(() => { const w = document.querySelector('.table-wrap'); "
            "return w.scrollWidth - w.clientWidth; })()")
        assert clipped <= 0, f"the regimen table is cut by {clipped} px at {width} px"
        assert page.is_visible("#disclaimer")
        assert page.locator("#references li").count() >= 1

        extract = page.locator("#verdict li.extract, #sections li.extract").first
        quoted = extract.locator(".text").inner_text()
        extract.locator(".citation").first.click()
        mark = page.locator("#passage mark.highlight")
        mark.wait_for(timeout=30_000)
        assert mark.inner_text() == quoted
        assert page.is_visible("#passage")

        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"
        assert not errors, errors
        page.screenshot(path=str(artifacts / f"answer-{width}px.png"), full_page=True)
    finally:
        page.close()



def test_each_quote_shows_its_section_path_and_page(browser, corpus_server):
    question = "Where does rTMS sit in the treatment of depression?"
    answer = httpx.post(corpus_server.url + "/v1/ask", json={"question": question},
                        timeout=60).json()
    extracts = [s for s in [*answer["bottom_line"],
                            *(s for section in answer["sections"] for s in section["statements"])]
                if s["kind"] == "extract"]
    assert any(s["section"][:1] == ["Question 8. When Should Neuromodulation Treatments be Used?"]
               for s in extracts)  # the guideline's own headings
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(corpus_server.url + "/?q=" + quote(question))
        page.wait_for_selector("#verdict li.extract", timeout=60_000)
        items = page.locator("#verdict li.extract, #sections li.extract")
        assert items.count() == len(extracts)
        for i, statement in enumerate(extracts):
            assert items.nth(i).locator(".section-path").inner_text() == \
                f"({' > '.join(statement['section'])})"
        # a PDF's quote carries its page after the section path, or alone before any heading
        shown = page.evaluate("""() => [
            renderStatement({kind: "extract", text: "x", citations: [], section: ["A", "B"], page: 3}),
            renderStatement({kind: "extract", text: "y", citations: [], section: [], page: 2}),
        ].map((item) => item.querySelector(".section-path").textContent)""")
        assert shown == ["(A > B, p. 3)", "(p. 2)"]
    finally:
        page.close()


def test_an_uncovered_question_shows_the_abstention(browser, corpus_server):
    page = browser.new_page(viewport={"width": 375, "height": 812})
    try:
        page.goto(corpus_server.url + "/?q=What%20is%20the%20capital%20of%20France%3F")
        page.wait_for_selector("#abstention:not([hidden])", timeout=60_000)
        assert page.inner_text("#abstention-message")
        assert page.locator("#verdict li").count() == 0
        assert page.is_visible("#disclaimer")
    finally:
        page.close()


@pytest.mark.parametrize(("path", "ready", "expected"), [
    ("/docs", ".opblock-summary-path", "/v1/ask"),
    ("/redoc", "[data-section-id]", "Answer a question"),
])
def test_api_docs_render_offline(browser, corpus_server, path, ready, expected):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(corpus_server.url):
            route.continue_()
        else:  # as on an offline machine: nothing outside the server loads
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    try:
        page.goto(corpus_server.url + path)
        page.wait_for_selector(ready, timeout=30_000)
        assert expected in page.inner_text("body")
        assert not [url for url in elsewhere if not url.startswith("data:")], elsewhere
    finally:
        page.close()
