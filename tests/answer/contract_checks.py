"""Checks of the answer contract shared by the fast and slow engine tests."""

from __future__ import annotations

from ragqa.answer.contract import Answer
from ragqa.index.store import HybridIndex


def assert_contract(answer: Answer, index: HybridIndex) -> None:
    """Every extract matches its span, every citation resolves, every reference is cited."""
    numbers = {ref.n for ref in answer.references}
    assert sorted(numbers) == list(range(1, len(numbers) + 1))
    ref_doc = {ref.n: ref.doc_id for ref in answer.references}
    cited: set[int] = set()
    for statement in answer.statements():
        assert set(statement.citations) <= numbers, statement
        cited.update(statement.citations)
        if statement.kind == "extract":
            doc = index.documents[statement.doc_id]
            assert doc.text[statement.char_start:statement.char_end] == statement.text
            assert [ref_doc[n] for n in statement.citations] == [statement.doc_id]
    assert cited == numbers, "every reference must be cited"
    order = []
    for statement in answer.statements():
        for n in statement.citations:
            if n not in order:
                order.append(n)
    if not answer.bottom_line or answer.bottom_line[0].kind != "system":
        assert order == sorted(order), "references are numbered in order of first use"
    if answer.abstained:
        assert not answer.statements() and not answer.references
        assert answer.abstention is not None and answer.abstention.reason
        for nearest in answer.abstention.nearest:  # what was found is quoted as it stands
            doc = index.documents[nearest.doc_id]
            assert doc.text[nearest.char_start:nearest.char_end] == nearest.text
            assert nearest.title == doc.title
