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


AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
# The three questions whose pages are written to test-artifacts/ at both widths: a narrow dose
# question, the reference question (a regimen named), and one the corpus does not answer.
SCREENSHOT_QUESTIONS = {
    "dose": "What dose of ketamine is used for suicidal ideation?",
    "microdosing": QUESTION,
    "abstain": "What is the capital of France?",
    "abstain-near": "What is the dose of sertraline for depression?",
}
WIDTHS = [(1280, 900), (375, 812)]


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
def axe_source() -> str:
    if not AXE.exists():
        reason = f"{AXE} is missing: run `npm ci` (as `make browser` does) to install axe-core"
        print(reason)
        pytest.skip(reason)
    return AXE.read_text()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _asked(server, question: str) -> dict:
    """The API's answer to `question`, as JSON."""
    return httpx.post(server.url + "/v1/ask", json={"question": question}, timeout=60).json()


def _open(browser, server, width, height, question=None, touch=False):
    # bypass_csp: only so that the test can inject axe-core; the page itself runs under the CSP
    page = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True,
                            has_touch=touch, is_mobile=touch)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/" + (f"?q={quote(question)}" if question else ""))
    if question:
        page.wait_for_selector("#answer:not([hidden])", timeout=60_000)
    return page, errors


def _axe_serious(page, axe_source) -> list:
    page.evaluate(axe_source)
    violations = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations.map("
        "(v) => ({id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target)})))")
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def _small_targets(page, least: int) -> list:
    return page.evaluate("""(least) => [...document.querySelectorAll(
            '#answer button, #answer a, #passage-panel button, #ask, #examples button')]
        .filter((n) => n.offsetParent !== null)
        .map((n) => { const r = n.getBoundingClientRect();
                      return [n.getAttribute('aria-label') || n.textContent, r.width, r.height]; })
        .filter(([, w, h]) => w < least || h < least)""", least)


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_ask_and_open_a_cited_passage(browser, corpus_server, artifacts, axe_source, width, height):
    page, errors = _open(browser, corpus_server, width, height)
    try:
        page.wait_for_function("document.querySelector('#index-version').textContent !== 'not loaded'")
        assert page.text_content("#index-version") == corpus_server.manifest["index_version"]
        # the empty page offers questions from the corpus and says how current it is
        page.wait_for_selector("#examples button", timeout=60_000)
        assert "evidence current to" in page.inner_text("#corpus-size")

        page.fill("#question", QUESTION)
        page.click("#ask")
        page.wait_for_selector("#verdict li", timeout=60_000)
        assert page.inner_text("#answered-question") == QUESTION
        verdict = page.inner_text("#verdict")
        assert "microdos" in verdict.lower()
        # ragqa's own sentence is labelled as such
        assert page.inner_text("#verdict li.system .who") == "Written by ragqa"
        # the answer's first statement is inside the first screen
        top = page.evaluate("document.querySelector('#verdict li').getBoundingClientRect().top")
        assert top < height, f"the first statement starts at {top} px, below the {height} px screen"
        # the corpus has no ketamine microdosing study: the regimen section says so, after the
        # bottom line and never as a heading over the answer's own sections
        assert page.is_visible("#regimen-banner")
        assert "not" in page.inner_text("#regimen-banner").lower()
        assert page.locator("#regimen-table tbody tr").count() >= 1
        assert "Regimen check" not in page.inner_text("#answer")
        clipped = page.evaluate(
            "(() => { const w = document.querySelector('.table-wrap'); "
            "return w.scrollWidth - w.clientWidth; })()")
        assert clipped <= 0, f"the regimen table is cut by {clipped} px at {width} px"
        assert page.is_visible("#disclaimer")
        assert page.locator("#references li").count() >= 1
        assert "Text: " in page.text_content("#references li")  # provenance in the reference list

        extract = page.locator("#verdict li.extract, #sections li.extract").first
        quoted = extract.locator(".text").inner_text()
        citation = extract.locator(".citation").first
        assert citation.get_attribute("aria-label").startswith("Source ")
        assert extract.locator(".cite-meta").inner_text().startswith("(")  # design and year
        citation.click()
        mark = page.locator("#passage mark.highlight")
        mark.wait_for(timeout=30_000)
        assert mark.inner_text() == quoted
        assert page.is_visible("#passage")
        assert mark.is_visible()  # the panel opens at the span, not at the document's top
        assert page.evaluate("document.activeElement.id") == "passage-panel"
        assert "#" not in page.inner_text("#passage").split("\n")[0][:2]  # text, not raw Markdown
        assert page.inner_text("#passage-provenance").startswith("This text is ")
        assert not _small_targets(page, 24), _small_targets(page, 24)
        assert not _axe_serious(page, axe_source)
        page.keyboard.press("Escape")
        assert page.is_hidden("#passage-panel")
        assert page.evaluate("document.activeElement.classList.contains('citation')")

        # the regimen table's and the references' buttons also land on a highlighted span
        if width < 900:  # a phone shows the reference list on request
            assert not page.evaluate("document.querySelector('#references-details').open")
            page.click("#references-details > summary")
        for selector in ("#regimen-table .citation", "#references .show-source"):
            page.locator(selector).first.click()
            page.locator("#passage mark.highlight").wait_for(timeout=30_000)
            page.keyboard.press("Escape")

        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"
        assert not errors, errors
        page.screenshot(path=str(artifacts / f"answer-{width}px.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_follow_ups_answer_and_back_returns(browser, corpus_server, width, height):
    question = SCREENSHOT_QUESTIONS["dose"]
    page, errors = _open(browser, corpus_server, width, height, question)
    try:
        assert "Regimen" not in page.inner_text("#answer h3 >> nth=0")
        offered = page.locator("#followups button")
        count = offered.count()
        assert 2 <= count <= 4
        texts = [offered.nth(i).inner_text() for i in range(count)]
        assert question not in texts
        for text in texts:
            page.locator("#followups button", has_text=text).click()
            page.wait_for_function(f"document.querySelector('#answered-question').textContent === {text!r}",
                                   timeout=60_000)
            assert page.is_hidden("#abstention"), f"the follow-up {text!r} abstained"
            assert page.locator("#verdict li").count() >= 1
            page.go_back()  # Back returns to the question asked before
            page.wait_for_function(f"document.querySelector('#answered-question').textContent === {question!r}",
                                   timeout=60_000)
            page.wait_for_selector("#followups button", timeout=60_000)
        assert not errors, errors
    finally:
        page.close()


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_a_loading_or_failed_question_shows_no_old_answer(browser, corpus_server, width, height):
    page, errors = _open(browser, corpus_server, width, height, QUESTION)
    try:
        assert page.locator("#verdict li").count() >= 1
        held: list = []
        page.route("**/v1/ask", lambda route: held.append(route))  # the answer is held back
        page.fill("#question", "What dose of ketamine is used?")
        page.click("#ask")
        for _ in range(300):
            if held:
                break
            page.wait_for_timeout(100)
        assert held, "the second question was never sent"
        assert page.is_hidden("#answer")  # while it loads, no old answer
        assert page.locator("#verdict li").count() == 0
        held[0].fulfill(status=500, content_type="application/json",
                        body='{"status": 500, "code": "internal", "message": "server broke"}')
        page.wait_for_selector("#status.error", timeout=30_000)
        assert page.is_hidden("#answer")  # after an error, none either
        assert "server broke" in page.inner_text("#status")
        assert not errors, errors
    finally:
        page.close()


def test_touch_targets_are_44_px(browser, corpus_server):
    page, _ = _open(browser, corpus_server, 375, 812, QUESTION, touch=True)
    try:
        assert not _small_targets(page, 44), _small_targets(page, 44)
    finally:
        page.close()


@pytest.mark.parametrize(("width", "height"), WIDTHS)
@pytest.mark.parametrize("name", sorted(SCREENSHOT_QUESTIONS))
def test_screenshots_and_axe(browser, corpus_server, artifacts, axe_source, name, width, height):
    page, errors = _open(browser, corpus_server, width, height, SCREENSHOT_QUESTIONS[name])
    try:
        first = "#abstention-message" if name.startswith("abstain") else "#verdict li"
        top = page.evaluate(f"document.querySelector({first!r}).getBoundingClientRect().top")
        assert top < height, f"{name}: the answer starts at {top} px at {width} px"
        if name != "microdosing":
            assert page.is_hidden("#regimen-section")  # no regimen asked, no regimen section
        assert not _axe_serious(page, axe_source)
        assert not errors, errors
        page.screenshot(path=str(artifacts / f"{name}-{width}px.png"))
        page.screenshot(path=str(artifacts / f"{name}-{width}px-full.png"), full_page=True)
    finally:
        page.close()


def test_each_quote_shows_its_section_path_and_page(browser, corpus_server):
    question = "Where does rTMS sit in the treatment of depression?"
    answer = _asked(corpus_server, question)
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
        message = page.inner_text("#abstention-message")
        assert "does not answer" in message and "corpus holds" in message
        assert "threshold" not in page.inner_text("#answer")  # plain words, not internals
        assert page.locator("#verdict li").count() == 0
        assert page.is_visible("#disclaimer")
        assert page.is_hidden("#nearest-section")  # nothing near a question off the corpus
    finally:
        page.close()


def test_an_abstention_near_the_corpus_quotes_what_it_found_nearest(browser, corpus_server):
    question = "What is the dose of sertraline for depression?"
    answer = _asked(corpus_server, question)
    assert answer["abstained"] and answer["abstention"]["nearest"]
    page = browser.new_page(viewport={"width": 375, "height": 812})
    try:
        page.goto(corpus_server.url + "/?q=" + quote(question))
        page.wait_for_selector("#nearest-section:not([hidden])", timeout=60_000)
        assert "not an answer" in page.inner_text("#nearest-title")
        items = page.locator("#nearest li")
        assert items.count() == len(answer["abstention"]["nearest"])
        for i, nearest in enumerate(answer["abstention"]["nearest"]):
            assert nearest["text"] in items.nth(i).inner_text()
            assert nearest["title"] in items.nth(i).locator(".section-path").inner_text()
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
