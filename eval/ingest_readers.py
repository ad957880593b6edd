"""Measure candidate HTML and PDF readers on the CANMAT 2023 guideline page (issue 11).

    .venv/bin/python eval/ingest_readers.py [--html FILE] [--pdf FILE]

The ground truth is taken from the raw HTML with regular expressions (not with any candidate):
the guideline's section headings, its paragraphs (reading order), its list items and the first
body row of each HTML table. Without --pdf the page is printed to PDF with headless Chromium.

HTML candidates: trafilatura (Markdown output, tables on), selectolax (the article's text with a
line per block element) and ragqa's lxml walk (`ragqa.ingest.html`). PDF candidates: pypdfium2
(ragqa's reader) and pdfplumber (`extract_text`).
"""

from __future__ import annotations

import argparse
import html as html_lib
import re
import tempfile
import time
from pathlib import Path

DEFAULT_HTML = Path(__file__).resolve().parents[1] / "corpus" / "lam-2024-canmat-2023-mdd-guideline.html"
CHROME = ["Open in a new tab", "official website of the United States government",
          "Here's how you know", "Search in PMC", "Google Scholar", "PMC Disclaimer",
          "Add to search", "Permalink", "Contexte", "View in NLM Catalog", "Show available content"]


def strip_tags(fragment: str) -> str:
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def ground_truth(raw: str) -> dict[str, list]:
    body = raw[raw.index('class="body main-article-body"'):raw.index('id="ref-list1"')]
    # the French abstract is hidden on the page (hidden="hidden"): not part of what a reader shows
    body = re.sub(r'<section class="abstract trans" hidden="hidden".*?(?=<section id="section1-)',
                  "", body, flags=re.DOTALL)
    headings = [strip_tags(h) for h in re.findall(
        r'<h[234] class="pmc_sec_title">(.*?)</h[234]>', body, flags=re.DOTALL)]
    paragraphs = [strip_tags(p) for p in re.findall(r"<p>(.*?)</p>", body, flags=re.DOTALL)]
    paragraphs = [p for p in paragraphs if len(p) > 200]
    items = [strip_tags(re.sub(r"<sup>.*?</sup>", "", li))
             for li in re.findall(r"<li>\s*<p>(.*?)</p>\s*</li>", body, flags=re.DOTALL)]
    rows = []
    for table in re.findall(r"<table.*?</table>", body, flags=re.DOTALL):
        tbody = re.search(r"<tbody>(.*?)</tbody>", table, flags=re.DOTALL)
        first = re.search(r"<tr>(.*?)</tr>", tbody.group(1) if tbody else table, flags=re.DOTALL)
        head = re.findall(r"<th[^>]*>(.*?)</th>", table, flags=re.DOTALL)
        if first:
            cells = [strip_tags(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", first.group(1), re.DOTALL)]
            rows.append(([c for c in cells if c], [strip_tags(h) for h in head if strip_tags(h)]))
    return {"headings": headings, "paragraphs": paragraphs, "items": items, "rows": rows}


def in_sequence(flat: str, needles: list[str]) -> int:
    """How many needles are found one after another in `flat` (a reading-order score)."""
    position = count = 0
    for needle in needles:
        at = flat.find(needle, position)
        if at >= 0:
            count += 1
            position = at + len(needle)
    return count


def units(line: str) -> list[str]:
    """A line's parts: list items, table cells, cell values after a 'Header:' label."""
    parts = re.split(r"\s*(?:;|\|)\s*", line.lstrip("-*• ").strip())
    return [norm(p) for part in parts for p in (part, part.split(": ", 1)[-1])]


def score_text(text: str, truth: dict[str, list], heading_marker: str | None) -> dict[str, str]:
    lines = [line.strip() for line in text.splitlines()]
    flat = norm(text)
    heading_lines = {norm(line.lstrip("#").strip()) for line in lines
                     if heading_marker is None or line.startswith(heading_marker)}
    headings = truth["headings"]
    own_line = sum(norm(h) in heading_lines for h in headings)
    paragraphs = truth["paragraphs"]
    para_found = sum(norm(p[:120]) in flat for p in paragraphs)
    item_units = {u for line in lines for u in units(line)}
    items = sum(norm(i) in item_units for i in truth["items"])
    rows_together = rows_labelled = 0
    for cells, head in truth["rows"]:
        for line in lines:
            n = norm(line)
            if cells and all(norm(c)[:40] in n for c in cells):
                rows_together += 1
                rows_labelled += bool(head) and all(norm(h)[:30] in n for h in head)
                break
    chrome = [c for c in CHROME if c.lower() in text.lower()]
    n_h, n_p, n_r = len(headings), len(paragraphs), len(truth["rows"])
    return {
        ("headings marked as headings" if heading_marker else "headings on a line of their own"):
            f"{own_line}/{n_h}",
        "headings found in the guideline's order": f"{in_sequence(flat, [norm(h) for h in headings])}/{n_h}",
        "paragraphs found / in order": f"{para_found} / "
                                       f"{in_sequence(flat, [norm(p[:120]) for p in paragraphs])} of {n_p}",
        "list items kept as separate items": f"{items}/{len(truth['items'])}",
        "table rows: cells on one line / labelled with headers": f"{rows_together} / {rows_labelled} of {n_r}",
        "chrome strings left": f"{len(chrome)} {chrome}" if chrome else "0",
    }


def html_candidates(raw: str, path: Path) -> dict[str, tuple[str, str | None, float]]:
    out: dict[str, tuple[str, str | None, float]] = {}
    import trafilatura

    t = time.perf_counter()
    text = trafilatura.extract(raw, output_format="markdown", include_tables=True,
                               include_links=False, favor_recall=True) or ""
    out["trafilatura 2.3 (markdown)"] = (text, "#", time.perf_counter() - t)

    from selectolax.lexbor import LexborHTMLParser

    t = time.perf_counter()
    tree = LexborHTMLParser(raw)
    tree.strip_tags(["script", "style", "nav", "header", "footer", "button", "svg", "form"])
    root = tree.css_first("article") or tree.body
    for hidden in root.css("[hidden]"):
        hidden.decompose()
    for h in root.css("h1, h2, h3, h4, h5, h6"):
        h.insert_before("\n# ")
    for block in root.css("p, li, tr, h1, h2, h3, h4, h5, h6, div"):
        block.insert_after("\n")
    text = re.sub(r"[ \t]+", " ", root.text(deep=True))
    text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    out["selectolax 1.0 (article text)"] = (text, "#", time.perf_counter() - t)

    from ragqa.ingest.html import parse_html

    t = time.perf_counter()
    page = parse_html(path.read_bytes(), str(path))
    out["lxml 6.1 walk (ragqa.ingest.html)"] = (page.text, "#", time.perf_counter() - t)
    return out


def print_pdf(html: Path, target: Path) -> None:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            "file:") else route.abort())
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.pdf(path=str(target), format="A4")
        browser.close()


def pdf_candidates(path: Path) -> dict[str, tuple[str, str | None, float]]:
    out: dict[str, tuple[str, str | None, float]] = {}
    import pdfplumber

    t = time.perf_counter()
    with pdfplumber.open(str(path)) as pdf:
        text = "\n".join(page.extract_text() or "" for page in pdf.pages)
    out["pdfplumber 0.11 extract_text"] = (text, None, time.perf_counter() - t)

    import pypdfium2 as pdfium

    t = time.perf_counter()
    pdf = pdfium.PdfDocument(str(path))
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    out["pypdfium2 5.15 get_text_range"] = (text, None, time.perf_counter() - t)

    from ragqa.ingest.pdf import read_pdf_file

    t = time.perf_counter()
    parsed = read_pdf_file(path)
    out["pypdfium2 5.15 + font-size headings (ragqa.ingest.pdf)"] = (
        parsed.text, "#", time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=DEFAULT_HTML)
    parser.add_argument("--pdf", type=Path, default=None)
    args = parser.parse_args()
    raw = args.html.read_text(encoding="utf-8")
    truth = ground_truth(raw)
    print(f"ground truth: {len(truth['headings'])} headings, {len(truth['paragraphs'])} paragraphs "
          f"> 200 chars, {len(truth['items'])} list items, {len(truth['rows'])} HTML tables")
    results = html_candidates(raw, args.html)
    pdf = args.pdf
    if pdf is None:
        pdf = Path(tempfile.mkdtemp()) / "canmat.pdf"
        print_pdf(args.html, pdf)
    results.update(pdf_candidates(pdf))
    for name, (text, marker, seconds) in results.items():
        print(f"\n## {name}  ({seconds:.2f} s, {len(text):,} chars)")
        for metric, value in score_text(text, truth, marker).items():
            print(f"- {metric}: {value}")


if __name__ == "__main__":
    main()
