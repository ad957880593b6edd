"""Render an Answer as Markdown for people (the JSON contract is the Answer model itself)."""

from __future__ import annotations

import re

from ragqa.answer.contract import Answer, Reference, Statement

NEAREST_HEADING = "What the corpus says nearest to the question (not an answer to it)"


def _line(statement: Statement) -> str:
    if statement.kind == "system":
        return f"*ragqa:* {statement.text} *(written by ragqa from the cited sentences, not quoted)*"
    cites = "".join(f"[{n}]" for n in statement.citations)
    where = _where(statement.section, statement.page)
    notes = [where] if where else []
    if statement.provenance is not None and statement.provenance.short:
        notes.append(statement.provenance.short)
    return f"{statement.text} {cites}" + (f" *({'; '.join(notes)})*" if notes else "")


def _where(section: list[str], page: int | None) -> str:
    """Where a quote stands: its section path, then its page ("A > B, p. 3", "p. 2", "")."""
    where = " > ".join(section)
    if page is not None:
        where = f"{where}, p. {page}" if where else f"p. {page}"
    return where


def reference_line(ref: Reference) -> str:
    """One reference: authors, title, publisher, year, design, and what the text is and was checked against."""
    names = [a for a in ref.authors if a != "and others"]  # a list may end with "and others"
    more = len(names) > 3 or len(names) < len(ref.authors)
    authors = f"{', '.join(names[:3])}{' and others' if more else ''}. " if names else ""
    source = ", ".join(str(part) for part in (ref.publisher, ref.year) if part is not None)
    title = ref.title if ref.title.endswith(("?", "!")) else f"{ref.title.rstrip('.')}."
    line = (f"{authors}{title} {source + ' ' if source else ''}"
            f"({ref.doc_type.replace('_', ' ')}). `{ref.doc_id}`")
    p = ref.provenance
    if p is not None:
        checked = f"; checked against {p.checked_words} on {p.checked_on}" if p.checked_words else ""
        line += f" Text: {p.label}{checked}."
    return re.sub(r"(?<!\.)\.\.(?!\.)", ".", line)  # "et al." + "." reads "et al."


def to_markdown(answer: Answer) -> str:
    """The answer as Markdown: bottom line, regimen (when asked), sections, follow-ups, references."""
    out = [f"# {answer.question}", ""]
    if answer.abstained:
        out += [f"**{answer.message}**", ""]
        nearest = answer.abstention.nearest if answer.abstention else []
        if nearest:
            out += [f"## {NEAREST_HEADING}", ""]
            for n in nearest:
                where = _where(n.section[1:] if n.section[:1] == [n.title] else n.section, n.page)
                notes = [n.title, *([where] if where else []),
                         *([n.provenance.short] if n.provenance and n.provenance.short else [])]
                out.append(f"- \u201c{n.text}\u201d *({'; '.join(notes)})*")
            out.append("")
        if answer.followups:
            out += ["## Questions the corpus can answer nearby", ""]
            out += [f"- {q}" for q in answer.followups]
            out.append("")
    else:
        out += ["## Bottom line", ""]
        out += [f"- {_line(s)}" for s in answer.bottom_line]
        out.append("")
        check = answer.regimen_check
        if check.asked is not None and check.evidence:
            verdict = {True: "studied in the retrieved sources",
                       False: "NOT studied in the retrieved sources", None: "no verdict"}[check.supported]
            out += [f"## Regimens in the evidence (asked: {check.asked_label}; {verdict})", "",
                    "| regimen | doses | routes | sources |", "|---|---|---|---|"]
            for e in check.evidence:
                cites = ", ".join(f"[{n}]" for n in e.citations)
                out.append(f"| {e.label} | {'; '.join(e.doses)} | {', '.join(e.routes)} | {cites} |")
            out.append("")
        for section in answer.sections:
            out += [f"## {section.heading}", ""]
            out += [f"- {_line(s)}" for s in section.statements]
            out.append("")
        if answer.followups:
            out += ["## Follow-up questions", ""]
            out += [f"- {q}" for q in answer.followups]
            out.append("")
        out += ["## References", ""]
        out += [f"{ref.n}. {reference_line(ref)}" for ref in answer.references]
        out.append("")
    out += [f"*{answer.disclaimer}*", "", f"Index {answer.index_version}, built {answer.index_built_at}."]
    return "\n".join(out)
