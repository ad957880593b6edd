"""The PDF reader's layout analysis on small inline pages (fast): furniture by position and
repetition, superscript marks, joins across breaks, references, contents, hyphens."""

from __future__ import annotations

import pytest

from ragqa.ingest.furniture import Placed, find_furniture
from ragqa.ingest.hyphens import SOFT_HYPHEN, dehyphenate, vocabulary
from ragqa.ingest.layout import BlockKind
from ragqa.ingest.pdf import Line, _Char, _make_line, _merge_fragments, _parts, parse_lines

HEIGHT = 800.0


def line(text: str, y: float, page: int, size: float = 10.0, x0: float = 50.0,
         x1: float = 300.0, bold: bool = False) -> Line:
    return Line(text, size, y, page, bold, x0, x1, HEIGHT)


def blocks(parsed) -> list[tuple[str, BlockKind]]:
    return [(parsed.text[b.start:b.end], b.kind) for b in parsed.layout]


def test_furniture_is_what_repeats_at_the_same_place_on_many_pages():
    placed = []
    for page in range(1, 7):
        placed += [Placed(page, 780, "Gut 2014;0:1-20. doi:10.1136/gut", HEIGHT),
                   Placed(page, 740, f"Body text at the top of page {'abcdef'[page - 1]}.",
                          HEIGHT),
                   Placed(page, 700, "Recommendations", HEIGHT),  # a box label mid-page
                   Placed(page, 400, "Body text in the middle.", HEIGHT),
                   Placed(page, 100, f"Body text at the foot of page {'abcdef'[page - 1]}.",
                          HEIGHT),
                   Placed(page, 20 if page % 2 else 22, f"{page}", HEIGHT)]
    placed.append(Placed(3, 700 - 300, "Gut 2014;0:1-20. doi:10.1136/gut", HEIGHT))  # quoted
    furniture = find_furniture(placed, pages=6)
    assert {placed[i].text for i in furniture} == {"Gut 2014;0:1-20. doi:10.1136/gut"} | {
        str(p) for p in range(1, 7)}
    assert len(furniture) == 12  # not the mid-page copy, not the box label
    # two pages repeat nothing; only each page's own number at its foot goes
    assert {placed[i].text for i in find_furniture(placed[:12], pages=2)} == {"1", "2"}


def test_a_running_head_that_repeats_a_heading_beside_the_page_number_is_furniture():
    """LaTeX's heads (and many books'): the page number beside the current section's heading,
    different on every page, so nothing repeats; a page's own number alone at its top or foot."""
    placed = [Placed(1, 618, "Management of gout in adults", HEIGHT),
              Placed(1, 400, "1 Background", HEIGHT),
              Placed(1, 300, "Gout is an inflammatory arthritis.", HEIGHT),
              Placed(1, 83, "1", HEIGHT),
              Placed(2, 704, "2 4 URATE-LOWERING THERAPY", HEIGHT),
              Placed(2, 600, "Dual-energy computed tomography can support the diagnosis.", HEIGHT),
              Placed(2, 357, "4 Urate-lowering therapy", HEIGHT),
              Placed(2, 113, "12 patients were treated in 2019.", HEIGHT),
              Placed(3, 704, "3", HEIGHT),
              Placed(3, 600, "Allopurinol is the first-line urate-lowering drug.", HEIGHT),
              Placed(3, 113, "5 Monitoring", HEIGHT)]
    assert {placed[i].text for i in find_furniture(placed, pages=3)} == {
        "1", "2 4 URATE-LOWERING THERAPY", "3"}


@pytest.mark.parametrize(
    ("text", "elsewhere", "expected"),
    [
        (f"long-{SOFT_HYPHEN}term use", "long-term outcomes and long-term risk", "long-term use"),
        (f"long{SOFT_HYPHEN}term use", "long-term outcomes", "long-term use"),
        (f"chron{SOFT_HYPHEN}ic pain", "chronic disease", "chronic pain"),
        (f"manage{SOFT_HYPHEN}ment of CD", "", "management of CD"),
        (f"COVID-{SOFT_HYPHEN}19 cases", "", "COVID-19 cases"),
        (f"S-{SOFT_HYPHEN}adenosyl", "", "S-adenosyl"),
        # a three-letter tail keeps its hyphen when the document writes it as a word of its own
        (f"same-{SOFT_HYPHEN}day referral", "twice a day", "same-day referral"),
        (f"in-{SOFT_HYPHEN}app purchases", "a free app", "in-app purchases"),
        (f"merit{SOFT_HYPHEN}ing further study", "", "meriting further study"),
    ],
)
def test_line_end_hyphens_follow_the_documents_vocabulary(text, elsewhere, expected):
    assert dehyphenate(text, vocabulary(f"{text} {elsewhere}")) == expected


def test_vocabulary_does_not_count_broken_words():
    words = vocabulary(f"longterm{SOFT_HYPHEN} once, long-term twice, long-term")
    assert words["long-term"] == 2 and words["longterm"] == 0


def test_a_word_broken_at_two_places_is_one_word():
    """"lance" is a common word, so one break alone would keep the hyphen; the document breaking the
    word elsewhere too says it was hyphenated by syllables."""
    text = f"the phar{SOFT_HYPHEN}macovigilance data and the pharmacovigi{SOFT_HYPHEN}lance reports"
    assert dehyphenate(text, vocabulary(text)) == "the pharmacovigilance data and the pharmacovigilance reports"
    # a compound broken twice breaks at its hyphen both times
    compound = f"same-{SOFT_HYPHEN}day referral and same-{SOFT_HYPHEN}day review on the day"
    assert dehyphenate(compound, vocabulary(compound)) == "same-day referral and same-day review on the day"


def chars(text: str, size: float, base: float, x: float) -> list[_Char]:
    out = []
    for c in text:
        out.append(_Char(c, 0.0 if c == " " else size, base, x, x + size / 2))
        x += size / 2
    return out


def test_superscript_citation_marks_are_dropped_not_glued_to_words():
    raw = chars("the NIH consensus", 9.0, 100.0, 50.0) + chars("6", 6.0, 103.5, 130.0) + \
        chars(" on CD in 2005", 9.0, 100.0, 133.0)
    made, marks = _make_line(raw, page=1, height=HEIGHT)
    assert made is not None and made.text == "the NIH consensus on CD in 2005"
    assert marks == 1
    # an exponent after a unit stays: "BMI >27 kg/m2"
    unit = chars("BMI >27 kg/m", 9.0, 100.0, 50.0) + chars("2", 6.0, 103.5, 110.0)
    assert _make_line(unit, page=1, height=HEIGHT)[0].text == "BMI >27 kg/m2"
    # a small number on the baseline (a table's footnote size, say) is text, not a mark
    same_line = chars("dose 5", 9.0, 100.0, 50.0) + chars("10", 6.0, 100.0, 90.0)
    assert _make_line(same_line, page=1, height=HEIGHT)[0].text == "dose 510"


def test_a_citation_mark_pdfium_set_apart_is_dropped_and_its_place_is_the_word_space():
    def piece(text: str, size: float, y: float, x0: float, x1: float) -> Line:
        return Line(text, size, y, 1, False, x0, x1, HEIGHT)

    lines, marks = _merge_fragments([piece("to shape national policy.", 9.0, 556.2, 50.0, 330.0),
                                     piece("12", 6.0, 559.9, 330.5, 336.8)])
    assert [ln.text for ln in lines] == ["to shape national policy."] and marks == 1
    # "low." then a piece pdfium began at the mark "11" (dropped, its box kept): a space, not "low.R"
    lines, _ = _merge_fragments([piece("rated as low or very low.", 9.0, 400.0, 50.0, 200.0),
                                 piece("Recommendations were made", 9.0, 400.0, 200.5, 330.0)])
    assert [ln.text for ln in lines] == ["rated as low or very low. Recommendations were made"]
    # a piece a hair apart on the same baseline is the same word
    lines, _ = _merge_fragments([piece("the dose", 9.0, 400.0, 50.0, 100.0),
                                 piece("s were", 9.0, 400.0, 100.2, 130.0)])
    assert [ln.text for ln in lines] == ["the doses were"]


def test_a_word_a_space_after_a_mark_pdfium_began_a_piece_at_stays_a_word_apart():
    """pdfium starts a new piece at the raised "1" after "condition X": the dropped mark's box
    touches the "X", but a space stood between the mark and "highlighted"."""
    before, _ = _make_line(chars("with condition X", 9.0, 400.0, 50.0), page=1, height=HEIGHT)
    after, marks = _make_line(chars("1", 6.0, 403.5, 122.0) + chars(" highlighted the need", 9.0, 400.0, 125.0),
                              page=1, height=HEIGHT)
    assert before is not None and after is not None and marks == 1
    assert after.text == "highlighted the need" and after.spaced_after_mark
    assert _merge_fragments([before, after])[0][0].text == "with condition X highlighted the need"


def test_a_sentence_space_stretched_in_a_justified_line_does_not_part_it():
    """TeX widens the space after a full stop; in a narrow justified column it can outgrow a table
    cell's gap. The two pieces fill the line above edge to edge: one line of prose."""
    def piece(text: str, y: float, x0: float, x1: float) -> Line:
        return Line(text, 12.0, y, 1, False, x0, x1, HEIGHT, word_gap=4.0)

    above = piece("though the certainty of the evidence re", 513.0, 113.0, 320.0)
    lines, _ = _merge_fragments([above, piece("mains low.", 499.0, 113.0, 177.0),
                                 piece("Adults presenting with", 499.0, 197.0, 324.0)])
    assert [ln.text for ln in lines][1:] == ["mains low. Adults presenting with"]
    # the same gap between cells of a row narrower than the line above stays a cell boundary
    lines, _ = _merge_fragments([above, piece("Grade B.", 499.0, 113.0, 160.0),
                                 piece("Offer", 499.0, 180.0, 210.0)])
    assert [ln.text for ln in lines][1:] == ["Grade B.", "Offer"]


def furnished(*bodies: list[Line]) -> list[Line]:
    """Each page's body lines between a running head and a page number (six furniture lines for
    three pages)."""
    return [ln for page, body in enumerate(bodies, 1)
            for ln in (line("Journal of Guidelines 2024", 780, page, size=8), *body,
                       line(f"Page {page}", 20, page, size=8))]


def test_a_sentence_cut_by_a_page_break_footer_and_caption_is_one_sentence():
    lines = furnished([line("Treatment", 740, 1, size=14),
                       line("Light therapy is effective in seasonal depression and", 700, 1),
                       line("it is recommended as first-line treatment for", 688, 1)],
                      [line("Figure 1. Response rates by week.", 740, 2, size=8),
                       line("patients with a seasonal pattern.", 700, 2),
                       line("Side effects are mild.", 660, 2)],
                      [line("Side effects are mild.", 700, 3)])
    parsed = parse_lines(lines, pages=3, info={})
    found = blocks(parsed)
    assert (("Light therapy is effective in seasonal depression and it is recommended as "
            "first-line treatment for patients with a seasonal pattern."), BlockKind.PROSE) in found
    assert ("Figure 1. Response rates by week.", BlockKind.CAPTION) in found
    assert "Journal of Guidelines" not in parsed.text and "Page " not in parsed.text
    assert parsed.report.chrome_skipped == 6


def test_a_line_of_prose_that_names_a_table_is_prose_and_a_caption_is_a_caption():
    lines = [line("Surgery may be offered to adolescents when the criteria in", 740, 1),
             line("Table 18 must also be met. A team follows them up for years.", 728, 1),
             line("Table 4 lists the screening criteria, and most are met.", 700, 1),
             line("Table 5 Novel treatments in coeliac disease", 660, 1, size=8),
             line("Table 6: estimated costs", 640, 1, size=8)]
    found = blocks(parse_lines(lines, pages=1, info={}))
    prose = [text for text, kind in found if kind is BlockKind.PROSE]
    assert prose == [("Surgery may be offered to adolescents when the criteria in Table 18 must also "
                      "be met. A team follows them up for years."),
                     "Table 4 lists the screening criteria, and most are met."]
    assert ("Table 5 Novel treatments in coeliac disease", BlockKind.CAPTION) in found
    assert ("Table 6: estimated costs", BlockKind.CAPTION) in found


def test_a_grade_on_its_own_line_closes_its_item_and_a_bullet_opens_the_next():
    def item(text: str, y: float, first: bool = False, x1: float = 540) -> Line:
        return line(text, y, 1, x0=313 if first else 326, x1=x1)

    lines = [item("▸ The diagnosis of CD requires duodenal biopsy and for the vast", 752, True),
             item("majority of adult patients also positive serology. (Grade B)", 740, x1=537),
             item("▸ Duodenal biopsy should be retained as the mainstay for the", 728, True),
             item("diagnosis of adult CD and cannot be replaced by serology.", 716, x1=538),
             item("(Grade B)", 704, x1=360),
             item("▸ At endoscopy, at least four biopsy specimens should be", 692, True),
             item("obtained. (Grade C)", 680, x1=420)]
    texts = [text for text, _ in blocks(parse_lines(lines, pages=1, info={}))]
    assert texts == [
        ("The diagnosis of CD requires duodenal biopsy and for the vast majority of adult patients "
         "also positive serology. (Grade B)"),
        ("Duodenal biopsy should be retained as the mainstay for the diagnosis of adult CD and "
         "cannot be replaced by serology. (Grade B)"),
        "At endoscopy, at least four biopsy specimens should be obtained. (Grade C)"]


def test_word_bullets_sibling_dashes_and_the_text_after_a_list_are_each_their_own_block():
    lines = [line("Offer treatment to adults who have any of the following:", 700, 1, x0=72, x1=430),
             line("\uf0b7 target organ damage", 686, 1, x0=90, x1=210),
             line("\uf0b7 diabetes, or", 672, 1, x0=90, x1=160),
             line("o for people with type 1 diabetes, see the other guideline", 658, 1, x0=108, x1=400),
             line("\uf0b7 consider referral, especially when:", 644, 1, x0=90, x1=300),
             line("– the person is aged over 80 years, or", 630, 1, x0=108, x1=330),
             line("– the person has a history of falls.", 616, 1, x0=108, x1=320),
             line("Review treatment annually.", 602, 1, x0=72, x1=200),
             line("[2004, amended 2019]", 576, 1, x0=72, x1=180, bold=True)]
    found = blocks(parse_lines(lines, pages=1, info={}))
    assert found == [("Offer treatment to adults who have any of the following:", BlockKind.PROSE),
                     ("target organ damage", BlockKind.LIST_ITEM),
                     ("diabetes, or", BlockKind.LIST_ITEM),
                     ("for people with type 1 diabetes, see the other guideline", BlockKind.LIST_ITEM),
                     ("consider referral, especially when:", BlockKind.LIST_ITEM),
                     ("the person is aged over 80 years, or", BlockKind.LIST_ITEM),
                     ("the person has a history of falls.", BlockKind.LIST_ITEM),
                     ("Review treatment annually. [2004, amended 2019]", BlockKind.PROSE)]


def test_the_text_after_a_list_whose_last_item_has_no_full_stop_is_its_own_block():
    # LibreOffice, a NICE-style list: items end with no stop; the next recommendation is set out
    # from them ("a temperature above 37.8°C ... 2.1.4 Refer people ..." was one list item)
    lines = [line("\u2022 a heart rate over 100 beats per minute", 700, 1, x0=90, x1=330),
             line("\u2022 a temperature above 37.8\u00b0C for more than 3 days", 686, 1, x0=90, x1=380),
             line("2.1.4 Refer people with a score of 2 or more for hospital assessment,", 672, 1,
                  x0=72, x1=470),
             line("taking into account their wishes.", 658, 1, x0=72, x1=260),
             line("\u2022 people of South Asian family origin, where", 630, 1, x0=90, x1=380),
             line("stated in the recommendation", 616, 1, x0=72, x1=250)]
    found = blocks(parse_lines(lines, pages=1, info={}))
    assert found == [
        ("a heart rate over 100 beats per minute", BlockKind.LIST_ITEM),
        ("a temperature above 37.8\u00b0C for more than 3 days", BlockKind.LIST_ITEM),
        (("2.1.4 Refer people with a score of 2 or more for hospital assessment, taking into account "
          "their wishes."), BlockKind.PROSE),
        # an item that wraps to the margin in lower case goes on
        ("people of South Asian family origin, where stated in the recommendation", BlockKind.LIST_ITEM)]


def test_a_recommendation_number_hanging_in_the_margin_stays_with_its_text_a_cell_does_not():
    text = chars("Offer", 10.0, 100.0, 102.4)[0]
    assert not _parts(chars("1.1.1", 10.0, 100.0, 57.0), text)
    assert not _parts(chars("(12)", 10.0, 100.0, 57.0), text)
    assert _parts(chars("Influenza", 10.0, 100.0, 40.0), text)  # two table cells


def test_a_cell_border_drawn_between_two_words_parts_them_however_narrow_the_gap():
    # "Drug" ends at x 70 and "Starting" begins at 72.5, closer than a word space; a table's border
    # is drawn at x 71 across the row's baseline (100) in one case and not in the other
    starting = chars("Starting", 10.0, 100.0, 72.5)[0]
    border = [(71.0, 95.0, 112.0)]
    assert not _parts(chars("Drug", 10.0, 100.0, 50.0), starting)
    assert _parts(chars("Drug", 10.0, 100.0, 50.0), starting, border)
    assert not _parts(chars("Drug", 10.0, 100.0, 50.0), starting, [(71.0, 150.0, 170.0)])  # another row

    def piece(text: str, x0: float, x1: float) -> Line:
        return Line(text, 10.0, 100.0, 1, False, x0, x1, HEIGHT)

    pieces = [piece("Starting dose", 91.0, 148.0), piece("Maximum dose", 154.0, 223.0)]
    assert [ln.text for ln in _merge_fragments(pieces)[0]] == ["Starting dose Maximum dose"]
    assert [ln.text for ln in _merge_fragments(pieces, [(151.9, 95.0, 112.0)])[0]] == [
        "Starting dose", "Maximum dose"]

def test_references_under_their_heading_are_one_entry_each_and_not_quotable():
    lines = [line("Discussion", 760, 1, size=14), line("CD is common.", 740, 1),
             line("References", 700, 1, size=14),
             line("1 Husby S, Koletzko S. Guidelines for the diagnosis of coeliac", 680, 1, size=8),
             line("disease. J Pediatr 2012;54:136-60.", 670, 1, size=8, x0=60),
             line("2 Ludvigsson JF, Leffler DA. The Oslo definitions. Gut 2013;62:43-52.", 660, 1,
                  size=8)]
    parsed = parse_lines(lines, pages=1, info={})
    refs = [text for text, kind in blocks(parsed) if kind is BlockKind.REFERENCE]
    assert refs == [("1 Husby S, Koletzko S. Guidelines for the diagnosis of coeliac disease. J "
                    "Pediatr 2012;54:136-60."),
                    "2 Ludvigsson JF, Leffler DA. The Oslo definitions. Gut 2013;62:43-52."]
    assert not BlockKind.REFERENCE.quotable
    assert parsed.report.references == 2


def test_numbered_citation_entries_without_a_heading_are_references():
    lines = [line("Body text runs on here, in the type that most of the page is set in,", 712, 1),
             line("and ends here, in the type that most of the page is set in.", 700, 1),
             line("12. Smith AB, Jones C. A trial of light. Lancet 2019;3:1-9.", 100, 1, size=7),
             line("13. Brown D, Green E. Another trial. BMJ 2020;4:2-8.", 90, 1, size=7)]
    kinds = [kind for _, kind in blocks(parse_lines(lines, pages=1, info={}))]
    assert kinds == [BlockKind.PROSE, BlockKind.REFERENCE, BlockKind.REFERENCE]
    assert blocks(parse_lines(lines[:3], pages=1, info={}))[1][1] is BlockKind.REFERENCE


def test_contents_lines_with_dot_leaders_are_not_quotable():
    lines = [line("Contents", 740, 1, size=14),
             line("1 Introduction .......................... 3", 740, 1),
             line("2 Methods ............................... 7", 728, 1),
             line("Introduction", 700, 2, size=14), line("Hypertension is common.", 680, 2)]
    found = blocks(parse_lines(lines, pages=2, info={}))
    assert [kind for _, kind in found] == [BlockKind.CONTENTS, BlockKind.CONTENTS, BlockKind.PROSE]
    assert not BlockKind.CONTENTS.quotable


def test_contents_without_leaders_wrapped_entries_roman_pages_and_a_list_of_figures_are_contents():
    # the WHO hypertension guideline's front matter: no dot leaders, front matter paged in roman
    # numerals, a wrapped entry whose page number stands on a line of its own, and a list of
    # figures after the contents
    lines = [line("Contents", 740, 1, size=14),
             line("Acknowledgements", 720, 1), line("v", 720, 1, x0=500),
             line("1 Introduction", 706, 1), line("1", 706, 1, x0=500),
             line("3.3 Cardiovascular disease risk assessment as guide to initiation of antihypertensive",
                  692, 1),
             line("medications", 680, 1), line("10", 668, 1, x0=500),
             line("Figures", 640, 1, size=14),
             line("Fig. 1", 620, 1), line("Analytic framework for antihypertensive treatment", 608, 1),
             line("3", 596, 1, x0=500),
             line("Introduction", 700, 2, size=14), line("Hypertension is common.", 680, 2),
             line("It affects 1 in 3 adults aged 40", 668, 2)]
    found = blocks(parse_lines(lines, pages=2, info={}))
    assert [kind for _, kind in found] == [BlockKind.CONTENTS] * 6 + [BlockKind.PROSE], found
    assert found[2][0].startswith("3.3 Cardiovascular") and found[3][0] == "10"


def test_a_list_heading_away_from_the_contents_opens_no_contents():
    lines = [line("Introduction", 740, 1, size=14), line("Hypertension is common.", 720, 1),
             line("Tables", 700, 1, size=14), line("Adults aged 40 and over 12", 680, 1),
             line("3", 668, 1, x0=500)]
    found = blocks(parse_lines(lines, pages=1, info={}))
    assert BlockKind.CONTENTS not in [kind for _, kind in found], found


def test_numbered_bold_headings_nest_by_their_numbers():
    lines = [line("2 Methods", 740, 1, bold=True), line("We searched the literature.", 740, 1),
             line("2.1 Search strategy", 720, 1, bold=True), line("PubMed was searched.", 700, 1)]
    parsed = parse_lines(lines, pages=1, info={})
    assert parsed.layout[-1].section == ("2 Methods", "2.1 Search strategy")


def test_title_and_year_from_the_first_page_when_the_metadata_has_none():
    lines = [line("Guideline on the treatment of light", 700, 1, size=20),
             line("Ann Smith, Bob Jones, Carla Diaz", 670, 1, size=12),
             line("Received 2013. Published 2014. © 2014 The Authors.", 640, 1),
             line("Body text.", 600, 2)]
    parsed = parse_lines(lines, pages=2, info={"Title": "untitled", "CreationDate": "D:2015"})
    assert parsed.metadata["title"] == "Guideline on the treatment of light"
    assert parsed.metadata["authors"] == ["Ann Smith", "Bob Jones", "Carla Diaz"]
    assert parsed.metadata["year"] == 2014
    assert parsed.found_in == {"title": "first page", "authors": "first page",
                               "year": "first page"}


def test_the_byline_under_a_subtitle_names_the_authors_a_login_name_does_not():
    # a word processor writes its user's login as the author and often only the first author
    lines = [line("Chronic Heart Failure in Adults", 700, 1, size=20),
             line("Regional Clinical Guideline RCG-07, version 3.1", 680, 1, size=14),
             line("Helen Morris, David Osei and Lucia Ferrante on behalf of the Cardiology Network",
                  660, 1),
             line("Approved: 2 September 2022.", 640, 1),
             line("Body text.", 600, 2)]
    names = ["Helen Morris", "David Osei", "Lucia Ferrante"]
    for author in ("hmorris", "Helen Morris", ""):
        parsed = parse_lines(lines, pages=2, info={"Title": "Chronic Heart Failure in Adults",
                                                   "Author": author})
        assert parsed.metadata["authors"] == names
        assert parsed.found_in["authors"] == "first page"
    # a document information naming someone the byline does not is kept
    parsed = parse_lines(lines, pages=2, info={"Title": "Chronic Heart Failure in Adults",
                                               "Author": "Jane Editor"})
    assert parsed.metadata["authors"] == ["Jane Editor"]


def test_a_cover_page_without_a_year_takes_the_copyright_line_after_it():
    lines = [line("Guideline for the treatment of hypertension", 700, 1, size=20),
             line("ISBN 978-92-4-003398-6", 700, 2),
             line("© World Health Organization 2021. Some rights reserved.", 680, 2),
             line("Body text about 2019 and 2020.", 600, 3)]
    parsed = parse_lines(lines, pages=3, info={"Title": "", "CreationDate": "D:2022"})
    assert parsed.metadata["year"] == 2021
    assert parsed.found_in["year"] == "copyright line"


def test_the_year_is_not_the_next_review_date():
    lines = [line("Guideline on the treatment of light", 700, 1, size=20),
             line("Published: 14 March 2021. Next review: March 2024.", 670, 1),
             line("Body text.", 600, 2)]
    parsed = parse_lines(lines, pages=2, info={"Title": ""})
    assert parsed.metadata["year"] == 2021


def test_cells_side_by_side_are_rows_labelled_by_a_bold_header_row():
    lines = [line("Text before the table runs in the body type of the page, line one,", 740, 1),
             line("and it ends here in the same body type of the page, line two.", 728, 1),
             line("Line of treatment", 700, 1, x0=50, x1=150, bold=True),
             line("Criteria", 700, 1, x0=250, x1=300, bold=True),
             line("First line", 686, 1, x0=50, x1=110),
             line("Level 1 or Level 2 evidence, plus", 686, 1, x0=250, x1=420),
             line("clinical support", 674, 1, x0=250, x1=330),
             line("Second line", 650, 1, x0=50, x1=115),
             line("Level 3 evidence or higher", 650, 1, x0=250, x1=400)]
    parsed = parse_lines(lines, pages=1, info={})
    found = blocks(parsed)
    assert found[-3:] == [
        ("Line of treatment | Criteria", BlockKind.TABLE_HEADER),
        (("Line of treatment: First line | Criteria: Level 1 or Level 2 evidence, plus clinical "
         "support"), BlockKind.TABLE_ROW),
        ("Line of treatment: Second line | Criteria: Level 3 evidence or higher",
         BlockKind.TABLE_ROW)]
    assert (parsed.report.tables, parsed.report.table_rows) == (1, 2)


def test_roman_page_numbers_are_furniture():
    placed = [Placed(page, y, text, HEIGHT) for page, numeral in enumerate(
        ["i", "ii", "iii", "iv", "v"], start=1) for y, text in (
        (700, f"Body text {'abcde'[page - 1]} one."), (500, f"Body text {'abcde'[page - 1]} two."),
        (300, f"Body text {'abcde'[page - 1]} three."), (30, numeral))]
    assert {placed[i].text for i in find_furniture(placed, pages=5)} == {
        "i", "ii", "iii", "iv", "v"}


def test_two_columns_of_prose_read_line_by_line_are_not_a_table():
    lines = []
    for k in range(4):
        lines += [line(f"Left column prose line {k} runs all the way across its column", 700 - 12 * k,
                       1, x0=50, x1=290),
                  line(f"right column prose line {k} also runs across the column width", 700 - 12 * k,
                       1, x0=310, x1=550)]
    parsed = parse_lines(lines, pages=1, info={})
    assert parsed.report.tables == 0
    assert not any(kind is BlockKind.TABLE_ROW for _, kind in blocks(parsed))


def test_a_chapters_running_head_is_furniture_where_the_other_furniture_sits():
    placed = []
    for page in range(1, 11):
        chapter = "Chapter 1: Diagnosis" if page <= 3 else (
            "Chapter 2: Treatment" if page <= 6 else "Chapter 3: Follow-up")
        placed += [Placed(page, 780, "Guideline on light 2024", HEIGHT),
                   Placed(page, 765, chapter, HEIGHT),
                   Placed(page, 600, f"Body text {'abcdefghij'[page - 1]} one.", HEIGHT),
                   Placed(page, 300, f"Body text {'abcdefghij'[page - 1]} two.", HEIGHT),
                   Placed(page, 765 - 200, "Chapter 2: Treatment" if page == 9 else "x", HEIGHT)]
    found = {(placed[i].page, placed[i].text) for i in find_furniture(placed, pages=10)}
    assert {(page, "Guideline on light 2024") for page in range(1, 11)} <= found
    assert (5, "Chapter 2: Treatment") in found and (8, "Chapter 3: Follow-up") in found
    assert (9, "Chapter 2: Treatment") not in found  # the same words mid-page are text


def test_a_short_chapters_running_head_on_two_pages_is_furniture_and_a_line_once_there_is_not():
    # a manual's three-page chapter carries its running head on its second and third pages only
    # (libtasn1's "Chapter 2: ASN.1 structure handling 3" was quoted inside a sentence)
    placed = []
    for page in range(1, 9):
        head = "Guideline on light 2024" if page <= 5 else (
            "Chapter 6: Side effects" if page in (7, 8) else "A line set at the top")
        placed += [Placed(page, 780, f"{page}", HEIGHT), Placed(page, 765, head, HEIGHT),
                   Placed(page, 600, f"Body text {'abcdefgh'[page - 1]} one.", HEIGHT),
                   Placed(page, 300, f"Body text {'abcdefgh'[page - 1]} two.", HEIGHT)]
    found = {(placed[i].page, placed[i].text) for i in find_furniture(placed, pages=8)}
    assert {(7, "Chapter 6: Side effects"), (8, "Chapter 6: Side effects")} <= found
    assert (6, "A line set at the top") not in found


@pytest.mark.parametrize(("big", "title"), [
    ("Libtasn1", "Libtasn1"),  # a one-word title set large
    ("WHO", "Guideline on the treatment of light"),  # a logo's short name is not the title
    ("Gut", "Guideline on the treatment of light"),
])
def test_the_largest_first_page_heading_is_the_title_unless_it_is_a_short_name(big, title):
    lines = [line(big, 740, 1, size=28),
             line("Guideline on the treatment of light", 700, 1, size=20, bold=True)] + [
        line(f"Body text line {k} of the first page runs on.", 600 - 12 * k, 1) for k in range(6)]
    parsed = parse_lines(lines, pages=1, info={"Title": ""})
    assert parsed.metadata["title"] == title


def test_a_page_footnote_is_a_note_without_its_mark_and_small_type_above_body_text_is_not():
    body = [line(f"Body text line {k} of the page runs on in the body type of the page.", 700 - 14 * k,
                 1, size=11, x1=470) for k in range(4)]
    lines = [*body,
             line("2 A numbered aside in small type with body text below it.", 630, 1, size=9),
             line("Body text below the aside goes on in the body type of the page.", 610, 1, size=11,
                  x1=470),
             line("3 The threshold was agreed by consensus because the evidence", 90, 1, size=9),
             line("was inconclusive.", 80, 1, size=9),
             line("4 See the separate guideline on medicines for details.", 68, 1, size=9)]
    found = blocks(parse_lines(lines, pages=1, info={}))
    assert found[-2:] == [
        ("The threshold was agreed by consensus because the evidence was inconclusive.",
         BlockKind.TABLE_NOTE),
        ("See the separate guideline on medicines for details.", BlockKind.TABLE_NOTE)]
    assert ("2 A numbered aside in small type with body text below it.", BlockKind.PROSE) in found


def test_a_captioned_tables_bold_first_row_labels_its_cells_and_is_not_repeated_on_the_next_page():
    lines = [line(f"Body text line {k} of the page runs on in the body type of the page.", 740 - 14 * k,
                  1, size=11, x1=470) for k in range(3)] + [
        line("Table 1. Antibiotic choice by severity of illness", 690, 1, size=11, bold=True),
        line("Severity", 670, 1, x0=73, x1=108, bold=True),
        line("First choice", 670, 1, x0=186, x1=236, bold=True),
        line("Duration", 670, 1, x0=413, x1=452, bold=True),
        line("Low", 654, 1, x0=73, x1=95), line("Amoxicillin 500 mg", 654, 1, x0=186, x1=280),
        line("5 days", 654, 1, x0=413, x1=439),
        line("Severity", 760, 2, x0=73, x1=108, bold=True),
        line("First choice", 760, 2, x0=186, x1=236, bold=True),
        line("Duration", 760, 2, x0=413, x1=452, bold=True),
        line("High", 744, 2, x0=73, x1=95), line("Co-amoxiclav 1.2 g", 744, 2, x0=186, x1=280),
        line("7 days", 744, 2, x0=413, x1=439)]
    found = [b for b in blocks(parse_lines(lines, pages=2, info={}))
             if b[1] in (BlockKind.TABLE_HEADER, BlockKind.TABLE_ROW)]
    assert found == [
        ("Severity | First choice | Duration", BlockKind.TABLE_HEADER),
        ("Severity: Low | First choice: Amoxicillin 500 mg | Duration: 5 days", BlockKind.TABLE_ROW),
        ("Severity: High | First choice: Co-amoxiclav 1.2 g | Duration: 7 days", BlockKind.TABLE_ROW)]
    assert not BlockKind.TABLE_HEADER.quotable


def test_a_line_that_stops_short_then_an_indented_capitalised_line_starts_a_paragraph():
    # a recommendation that ends in its grade, with no full stop, and the paragraph after it
    # (read as one sentence, "... (Grade B) Individuals with ...", before)
    lines = [line("Recommendation 2.2: Adults with suspected disease should be assessed", 700, 1, x1=470),
             line("within six weeks of referral (Grade B)", 686, 1, x1=260),
             line("Individuals with organ involvement need a specialist review of the", 672, 1,
                  x0=65, x1=470),
             line("dose at every visit.", 658, 1, x1=150),
             line("A line that runs to the margin and ends without a full stop in the", 630, 1, x1=470),
             line("Middle of a sentence goes on, capital or not, when it is not indented.", 616, 1, x1=440)]
    assert [text for text, _ in blocks(parse_lines(lines, pages=1, info={}))] == [
        ("Recommendation 2.2: Adults with suspected disease should be assessed within six weeks of "
         "referral (Grade B)"),
        "Individuals with organ involvement need a specialist review of the dose at every visit.",
        ("A line that runs to the margin and ends without a full stop in the Middle of a sentence "
         "goes on, capital or not, when it is not indented.")]


def _two_tables(caption_on_page_two: bool) -> list[tuple[str, BlockKind]]:
    # tables set in the body type (read by their cells side by side, not as a caption's smaller
    # type)
    def cell(text: str, y: float, page: int, x0: float, x1: float, bold: bool = False) -> Line:
        return line(text, y, page, size=11, x0=x0, x1=x1, bold=bold)

    lines = [line(f"Body text line {k} of the page runs on in the body type of the page.", 740 - 14 * k,
                  1, size=11, x1=470) for k in range(3)] + [
        line("Table 1. Antibiotic choice by severity of illness", 690, 1, size=11, bold=True),
        cell("Severity", 670, 1, 73, 108, bold=True), cell("First choice", 670, 1, 186, 236, bold=True),
        cell("Low", 654, 1, 73, 95), cell("Amoxicillin 500 mg", 654, 1, 186, 280),
        cell("Moderate", 640, 1, 73, 110), cell("Doxycycline 200 mg", 640, 1, 186, 280)]
    top = 760
    if caption_on_page_two:
        lines.append(line("Table 2. Follow-up by age group", top, 2, size=11))
        top -= 30
    lines += [cell("Under 65", top, 2, 73, 110), cell("At 6 weeks", top, 2, 186, 236),
              cell("65 and over", top - 14, 2, 73, 120), cell("At 2 weeks", top - 14, 2, 186, 236)]
    return [b for b in blocks(parse_lines(lines, pages=2, info={})) if b[1] == BlockKind.TABLE_ROW]


def test_a_table_running_on_to_the_next_page_keeps_its_header_another_captioned_table_does_not():
    assert _two_tables(caption_on_page_two=False)[-1] == (
        "Severity: 65 and over | First choice: At 2 weeks", BlockKind.TABLE_ROW)
    # Table 2's rows are not labelled with Table 1's header
    assert _two_tables(caption_on_page_two=True)[-2:] == [
        ("Under 65 | At 6 weeks", BlockKind.TABLE_ROW), ("65 and over | At 2 weeks", BlockKind.TABLE_ROW)]


def test_text_set_sideways_beside_the_text_block_is_in_the_margin_wherever_the_block_starts():
    from ragqa.ingest.pdf import _sideways_in_margin

    width = 595.0
    pieces = [line("Body text starts well inside a wide left margin.", 700, 1, x0=113, x1=480),
              line("Downloaded for personal use only.", 400, 1, x0=50, x1=61),   # the stamp, sideways
              line("Rotated column head", 500, 1, x0=200, x1=212)]               # sideways, in a table
    marked = _sideways_in_margin(pieces, {1, 2}, width)
    assert [p.sideways_in_margin for p in marked] == [False, True, False]
    # a page set wholly sideways: only what lies within a tenth of the width of an edge
    alone = [line("A landscape table's row", 400, 1, x0=100, x1=112),
             line("Chapter tab", 400, 1, x0=560, x1=572)]
    assert [p.sideways_in_margin for p in _sideways_in_margin(alone, {0, 1}, width)] == [False, True]


def test_a_word_broken_at_a_page_foot_goes_on_past_a_figures_text_at_the_next_pages_top():
    # a two-column journal: a figure sits at the top of the next page, its own words ("Treatment
    # pathway") in the body type; the broken word's second half is in lower case after it
    lines = furnished([line("Treatment", 740, 1, size=14),
                       line("Specialists should document immunohistochemical con" + SOFT_HYPHEN, 700, 1)],
                      [line("Treatment pathway", 740, 2, x0=150, x1=240),
                       line("firmation of the diagnosis in every patient.", 700, 2),
                       line("Side effects are mild.", 660, 2)],
                      [line("Side effects are mild.", 700, 3)])
    found = blocks(parse_lines(lines, pages=3, info={}))
    assert (("Specialists should document immunohistochemical confirmation of the diagnosis in every "
             "patient."), BlockKind.PROSE) in found
    assert not any("conTreatment" in text or "con-Treatment" in text for text, _ in found)


def test_a_footnote_whose_raised_mark_was_dropped_is_still_a_note():
    # LaTeX sets a footnote's number raised, so the reader drops it as a citation mark first
    from dataclasses import replace

    body = [line(f"Body text line {k} of the page runs on in the body type of the page.", 700 - 14 * k,
                 1, size=11, x1=470) for k in range(4)]
    lines = [*body,
             replace(line("The grading system is adapted from a framework in the supplement.", 80, 1,
                          size=9), opens_with_mark=True),
             replace(line("Adults were included when they met the criteria of the", 68, 1, size=9),
                     opens_with_mark=False)]
    found = blocks(parse_lines(lines, pages=1, info={}))
    assert found[-1] == (
        ("The grading system is adapted from a framework in the supplement. Adults were included "
         "when they met the criteria of the"), BlockKind.TABLE_NOTE)
