"""Abbreviations a document defines itself: "coeliac disease (CD)", "calcium channel blockers
(CCBs)".

A guideline defines its abbreviations once and then writes them: "A diagnosis of CD has
implications for family members" is about coeliac disease, but an embedding model does not know
what this document means by "CD". The definitions are found with the algorithm of Schwartz and
Hearst (PSB 2003): a short form in brackets, and the fewest words before it whose letters it takes
in order, its first letter starting a word. They are each document's own: "CD" is coeliac disease
in one guideline and Crohn's disease in another.

Used twice: the index embeds each sentence and passage with its document's short forms spelled out
(`spelled_out`; what is quoted stays the source's own text), and the answer stage's fact book adds
an expansion's words to a sentence that writes the short form (answer/defined.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ragqa.index.tokenize import tokenize

# a bracketed short form: 2 to 10 characters, a letter first, one capital at least, at most two words
_BRACKETED = re.compile(r"\(\s*([A-Za-z][\w\-/&]{0,8}[\w](?:\s[\w\-]{1,6})?)\s*[;,)]")
_WORD = re.compile(r"[\w'\u2019-]+")


def long_form(short: str, before: str) -> str | None:
    """The long form that `short` abbreviates at the end of `before`, or None (Schwartz-Hearst:
    the short form's letters and digits, last first, each found in the words before it in order,
    the first one at the start of a word)."""
    words = _WORD.findall(before)
    letters = sum(ch.isalnum() for ch in short)
    window = words[-min(letters + 5, 2 * letters):] if words else []
    text = " ".join(window)
    s, i = len(short) - 1, len(text) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while i >= 0 and (text[i].lower() != c or (s == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = text.rfind(" ", 0, i + 1) + 1
    found = text[start:]
    # the long form is longer than the short one and not the short form again
    if len(found) <= len(short) or found.lower() == short.lower() or len(found.split()) < 2 \
            and found.lower().startswith(short.lower()):
        return None
    return found


def definitions(text: str) -> list[tuple[str, str]]:
    """The (short form, long form) pairs a text defines."""
    out = []
    for m in _BRACKETED.finditer(text):
        short = m.group(1).strip()
        if not any(ch.isupper() for ch in short) or not 2 <= len(short) <= 10:
            continue
        found = long_form(short, text[:m.start()])
        if found is not None:
            out.append((short, found))
    return out


def document_abbreviations(text: str,
                           words: Callable[[str], Iterable[str]] = tokenize) -> dict[str, str]:
    """A document's short forms -> their long forms (its first definition of each holds), for
    one-word short forms whose long form has two `words` or more besides the short form itself."""
    defined: dict[str, str] = {}
    for short, long in definitions(text):
        tokens = tokenize(short)
        expansion = set(words(long))
        if len(tokens) != 1 or len(expansion) < 2 or tokens[0] in expansion:
            continue
        defined.setdefault(short, long)
    return defined


def spelled_out(text: str, abbreviations: dict[str, str]) -> str:
    """`text` with each short form of `abbreviations` written as its long form ("A diagnosis of
    coeliac disease has ..."), except where the text already writes the long form (it defines
    the short form, or says both)."""
    out = text
    lowered = text.lower()
    for short, long in sorted(abbreviations.items(), key=lambda item: -len(item[0])):
        if short not in out or long.lower() in lowered:
            continue
        out = re.sub(rf"(?<![\w-]){re.escape(short)}(?![\w-])", long, out)
    return out
