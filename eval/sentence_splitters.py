"""Compare sentence splitters on hand-labelled clinical text: `python eval/sentence_splitters.py`.

Each case is a paragraph and the sentences a careful reader would cut it into. The splitter with
more exactly-reproduced paragraphs (and fewer wrong cuts) is the one `ragqa.ingest.sentences` uses.
"""

from __future__ import annotations

import time

CASES: list[list[str]] = [
    ["Ketamine 0.5 mg/kg IV was infused over 40 minutes.", "Response was defined as a reduction of at least 50%."],
    ["Patients received 0.2-0.25 mg/kg i.v. over 1-2 min.", "Suicidal ideation fell within 40 minutes."],
    ["The effect size was d = 1.05 at 40 min.", "In patients with high baseline ideation it was d = 2.36."],
    ["Esketamine 56 mg or 84 mg was given twice weekly (Fig. 2).", "Blood pressure rose transiently."],
    ["Dr. Smith and colleagues (2018) enrolled 80 adults.", "Midazolam 0.02 mg/kg served as the active placebo."],
    ["The mean age was 45.3 years (SD 11.2).", "Most participants were women."],
    ["Hallucinations occurred in approx. 20% of patients.", "Nightmares occurred in about 12%."],
    ["OCD symptoms were rated on the Y-BOCS.", "PTSD symptoms were rated on the CAPS-5 and the PCL-5."],
    ["Doses ranged from 0.1 to 1.0 mg/kg.", "The 0.5 mg/kg and 1.0 mg/kg arms separated from placebo (p < .05)."],
    ["In the U.S. the drug is sold as Spravato.", "A REMS program applies."],
    ["Induction doses are 1 mg/kg to 4.5 mg/kg IV, e.g. 2 mg/kg.", "Emergence reactions may follow."],
    ["Results: 64% versus 28% responded at 24 h.", "Conclusions: ketamine was superior."],
    ["Was ketamine effective?", "Yes, in most trials."],
    ["Infusion rates up to 1 mg/kg/h were used.", "Boluses did not exceed 0.35 mg/kg."],
]


def _blingfire(text: str) -> list[str]:
    import blingfire

    return [s for s in blingfire.text_to_sentences(text).split("\n") if s]


def _pysbd(text: str) -> list[str]:
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    return [s.strip() for s in segmenter.segment(text) if s.strip()]


def main() -> None:
    """Print, per splitter, how many paragraphs it splits exactly as labelled and its speed."""
    for name, split in (("blingfire", _blingfire), ("pysbd", _pysbd)):
        exact = 0
        wrong = []
        start = time.perf_counter()
        for sentences in CASES:
            got = split(" ".join(sentences))
            if got == sentences:
                exact += 1
            else:
                wrong.append(got)
        elapsed = (time.perf_counter() - start) * 1000
        print(f"{name}: {exact}/{len(CASES)} paragraphs exact, {elapsed:.1f} ms")
        for got in wrong:
            print("   ", got)


if __name__ == "__main__":
    main()
