"""Render an Answer as Markdown for people (the JSON contract is the Answer model itself)."""

from __future__ import annotations

from ragqa.answer.contract import Answer, Statement


def _line(statement: Statement) -> str:
    if statement.kind == "system":
        return f"{statement.text} *(written by ragqa from the cited dose mentions)*"
    cites = "".join(f"[{n}]" for n in statement.citations)
    where = " > ".join(statement.section)
    if statement.page is not None:
        where = f"{where}, p. {statement.page}" if where else f"p. {statement.page}"
    return f"{statement.text} {cites}" + (f" *({where})*" if where else "")


def to_markdown(answer: Answer) -> str:
    """The answer as Markdown: verdict, regimen check, sections, references, disclaimer."""
    out = [f"# {answer.question}", ""]
    if answer.abstained:
        out += [f"**{answer.message}**", ""]
        if answer.abstention:
            out += [f"Why: {answer.abstention.reason}.", "", "Closest passages (rejected):", ""]
            out += [f"- {p.title} ({p.doc_id}), score {p.score:.3f}" for p in answer.abstention.closest]
            out.append("")
    else:
        out += ["## Bottom line", ""]
        out += [f"- {_line(s)}" for s in answer.bottom_line]
        out.append("")
        check = answer.regimen_check
        if check.evidence:
            asked = check.asked_label or "none named"
            verdict = {True: "supported", False: "NOT studied in the retrieved sources",
                       None: "no regimen asked"}[check.supported]
            out += [f"## Regimen check (asked: {asked}; {verdict})", "",
                    "| regimen | doses | routes | sources |", "|---|---|---|---|"]
            for e in check.evidence:
                cites = ", ".join(f"[{n}]" for n in e.citations)
                out.append(f"| {e.label} | {'; '.join(e.doses)} | {', '.join(e.routes)} | {cites} |")
            out.append("")
        for section in answer.sections:
            out += [f"## {section.heading}", ""]
            out += [f"- {_line(s)}" for s in section.statements]
            out.append("")
        out += ["## References", ""]
        for ref in answer.references:
            authors = f"{', '.join(ref.authors[:3])}{' and others' if len(ref.authors) > 3 else ''}. " \
                if ref.authors else ""
            source = ", ".join(str(part) for part in (ref.publisher, ref.year) if part is not None)
            out.append(f"{ref.n}. {authors}{ref.title}. {source} "
                       f"({ref.doc_type.replace('_', ' ')}). `{ref.doc_id}`")
        out.append("")
    out += [f"*{answer.disclaimer}*", "", f"Index {answer.index_version}, built {answer.index_built_at}."]
    return "\n".join(out)
