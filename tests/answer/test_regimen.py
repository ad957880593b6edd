"""Dose extraction and regimen classification from the data table."""

import pytest

from ragqa.answer.regimen import RegimenTable

TABLE = RegimenTable.default()


def ids(text: str, default_drug=None) -> list[str]:
    return [h.regimen.id for h in TABLE.find(text, default_drug)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ketamine 0.5 mg/kg IV over 40 minutes.", ["ketamine-standard-subanesthetic"]),
        ("A ketamine dose of 0.2-0.25 mg/kg over 1-2 minutes.", ["ketamine-low-subanesthetic"]),
        ("Ketamine 1 mg/kg to 4.5 mg/kg IV induces anesthesia.",
         ["ketamine-anesthetic", "ketamine-anesthetic"]),
        ("Ketamine 6.5 to 13 mg/kg IM.", ["ketamine-anesthetic"]),
        ("Infusions of ketamine up to 1 mg/kg/h.", ["ketamine-analgesic-infusion"]),
        ("Intranasal esketamine 56 mg or 84 mg twice weekly.",
         ["esketamine-intranasal", "esketamine-intranasal"]),
        ("Intranasal racemic ketamine 50 mg.", ["ketamine-intranasal"]),
        ("Ketamine 0.8 mg/kg IV weekly.", ["ketamine-higher-subanesthetic"]),
        ("LSD 13 micrograms was given.", ["lsd-microdose"]),
        ("Midazolam 0.045 mg/kg was the control.", []),
    ],
)
def test_doses_are_classified_by_drug_unit_route_and_band(text, expected):
    assert ids(text) == expected


def test_dose_lists_give_one_mention_per_value():
    doses = TABLE.doses("Ketamine 0.1, 0.2, 0.5 and 1.0 mg/kg versus midazolam 0.045 mg/kg.")
    assert [(d.low, d.drug) for d in doses] == [
        (0.1, "ketamine"), (0.2, "ketamine"), (0.5, "ketamine"), (1.0, "ketamine"),
        (0.045, "midazolam")]


def test_route_and_duration_are_attached():
    [dose] = TABLE.doses("Ketamine 0.5 mg/kg IV infused over 40 minutes.")
    assert (dose.route, dose.duration) == ("IV", "over 40 minutes")
    assert dose.describe() == "0.5 mg/kg IV over 40 minutes"


@pytest.mark.parametrize(
    "question",
    [
        "Is microdosing ketamine effective for depression?",
        "Do micro-doses of ketamine help anxiety?",
        "Can sub-perceptual ketamine treat PTSD?",
        "do tiny doses of ketamine help depression?",
        "Are very small doses of ketamine useful for mood?",
    ],
)
def test_microdosing_is_recognised_by_its_terms(question):
    assert "microdose" in ids(question)


def test_negated_mentions_are_flagged():
    [hit] = TABLE.find("No psychiatric study examined true microdoses of ketamine.")
    assert hit.regimen.id == "microdose" and hit.negated


def test_terms_name_a_regimen_without_a_dose():
    assert ids("What is the anesthetic dose of ketamine?") == ["ketamine-anesthetic"]
    assert "ketamine-subanesthetic" in ids("Is subanesthetic ketamine safe?")
