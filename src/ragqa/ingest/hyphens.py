"""Line-end hyphens decided by the document's own vocabulary.

A word broken at a line end ("long-" + "term", "chron-" + "ic") is written back as the document
writes it elsewhere: "long-term" when it writes "long-term" more often than "longterm", "chronic"
when it writes "chronic". A word the document breaks at two different places ("phar-" +
"macovigilance", "pharmacovigi-" + "lance") is one word broken by syllables: a compound breaks at
its own hyphen. A word the document never writes whole falls back to English word frequencies
(wordfreq): a known whole word is joined, two known words keep their hyphen.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

SOFT_HYPHEN = "\ufffe"  # where a word broke at a line end (pypdfium2's mark for it)
_WORD = re.compile(r"[^\W_]+(?:[-\u2010\u2011][^\W_]+)*")
_BROKEN = re.compile(rf"([^\W_]+(?:-[^\W_]+)*)-?{SOFT_HYPHEN}\s*([^\W_]+)")
_KNOWN_WORD = 2.0  # wordfreq Zipf frequency above which a word is an English word
_KNOWN_TAIL = 3.0  # ... and above which a broken word's tail is a common word of its own


def vocabulary(text: str) -> Counter[str]:
    """How often the document writes each word and hyphenated compound (lower case); words
    broken at a line end are not counted, except once for a word broken at two different places."""
    words: Counter[str] = Counter()
    for match in _WORD.finditer(text):
        end = match.end()
        if text[end:end + 1] == SOFT_HYPHEN or text[match.start() - 1:match.start()] == SOFT_HYPHEN:
            continue
        word = match.group().casefold().replace("\u2010", "-").replace("\u2011", "-")
        words[word] += 1
        if "-" in word:
            words.update(word.split("-"))
    places: dict[str, set[int]] = {}
    for match in _BROKEN.finditer(text):
        head, tail = match.group(1), match.group(2)
        places.setdefault(f"{head}{tail}".casefold(), set()).add(len(head))
    words.update(joined for joined, at in places.items() if len(at) > 1)
    return words


def keeps_hyphen(head: str, tail: str, words: Counter[str]) -> bool:
    """Whether "head-" + "tail" broken at a line end is the hyphenated word "head-tail"."""
    hyphenated = f"{head}-{tail}".casefold()
    joined = f"{head}{tail}".casefold()
    if words[hyphenated] or words[joined]:
        return words[hyphenated] > words[joined]
    last = head.rsplit("-", 1)[-1]
    if tail[:1].isupper() or tail[:1].isdigit() or head[-1:].isdigit() or len(last) == 1:
        return True  # "COVID-19", "anti-TNF", "5-HT", "S-adenosyl": never one word
    if _zipf(joined) >= _KNOWN_WORD:
        return False
    # "subclavicular-" + "implanted": not a word whole, but its tail is one
    # a three-letter tail ("same-" + "day") only when the document writes it as a word of its own:
    # "merit-" + "ing" is a suffix, which wordfreq also knows
    short = len(tail) == 3 and words[tail.casefold()] > 0
    return (len(tail) >= 4 or short) and _zipf(tail.casefold()) >= _KNOWN_TAIL


@lru_cache(maxsize=4096)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def dehyphenate(text: str, words: Counter[str] | None = None) -> str:
    """`text` with every line-end break (SOFT_HYPHEN) resolved by the vocabulary `words` (by
    default the text's own)."""
    if SOFT_HYPHEN not in text:
        return text
    words = vocabulary(text) if words is None else words

    def resolve(match: re.Match[str]) -> str:
        head, tail = match.group(1), match.group(2)
        return f"{head}-{tail}" if keeps_hyphen(head, tail, words) else f"{head}{tail}"

    return _BROKEN.sub(resolve, text).replace(SOFT_HYPHEN, "")
