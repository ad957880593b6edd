"""Feedback on answers: JSON lines, size-capped, without personal data (fast)."""

from __future__ import annotations

import json

import pytest

from ragqa.api.feedback import FeedbackFullError, FeedbackLog, scrub


def test_records_are_json_lines_with_a_date_and_nothing_else(tmp_path):
    log = FeedbackLog(tmp_path / "f" / "feedback.jsonl", 10_000)
    log.append({"question": "Q?", "rating": "helpful", "comment": "good", "index_version": "v"})
    record = json.loads((tmp_path / "f" / "feedback.jsonl").read_text())
    assert set(record) == {"question", "rating", "comment", "index_version", "date"}


def test_the_file_stops_growing_at_its_cap(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl", 300)
    with pytest.raises(FeedbackFullError, match="is full"):
        for _ in range(10):
            log.append({"question": "Q?", "rating": "helpful", "comment": "x" * 50})
    assert (tmp_path / "feedback.jsonl").stat().st_size <= 300


@pytest.mark.parametrize(("comment", "kept"), [
    ("mail me at jane.doe@example.org", "mail me at [removed]"),
    ("call +44 20 7946 0958 please", "call [removed] please"),
    ("the 0.5 mg/kg dose over 40 minutes", "the 0.5 mg/kg dose over 40 minutes"),
])
def test_comments_lose_addresses_and_numbers(comment, kept):
    assert scrub(comment) == kept
