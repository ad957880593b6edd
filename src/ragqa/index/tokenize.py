"""A BM25 tokenizer for clinical text: doses, units, acronyms and hyphenated terms survive."""

from __future__ import annotations

import re

# Order matters: dose-with-unit first, then numbers with decimals/ranges, then words with hyphens.
_TOKEN = re.compile(
    r"""
    \d+(?:\.\d+)?(?:[-\u2013]\d+(?:\.\d+)?)?\s?(?:mg/kg/h|mg/kg/min|mg/kg|mcg/kg|µg/kg|mg|mcg|µg|g|ml|mL|%)(?![\w/])
    | \d+(?:\.\d+)?(?:[-\u2013]\d+(?:\.\d+)?)?
    | [A-Za-z\u00C0-\u024F]+(?:['\u2019][a-z]+)?(?:[-/][A-Za-z0-9\u00C0-\u024F]+)*
    """,
    re.VERBOSE,
)

# Bump when tokenize() changes: indexes record it, and a different value makes them stale.
TOKENIZER_VERSION = "clinical-2"

STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "may", "might", "of", "on", "or", "should", "so", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "was", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your"]
)


def s_stem(word: str) -> str:
    """Harman's S-stemmer: fold plurals ('infusions' -> 'infusion', 'studies' -> 'study')."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens; '0.5 mg/kg' -> '0.5mg/kg', 'CAPS-5' -> 'caps-5' plus its parts."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        token = re.sub(r"\s+", "", match.group(0)).lower().replace("\u2013", "-")
        if token in STOPWORDS:
            continue
        token = s_stem(token)
        tokens.append(token)
        if "-" not in token:
            continue
        if token[0].isdigit():
            # a dose range also matches each end: '0.2-0.25mg/kg' -> '0.2mg/kg', '0.25mg/kg'
            low, high = token.split("-", 1)
            unit = re.sub(r"^[\d.]+", "", high)
            if unit:
                tokens.extend((low + unit, high))
        else:
            tokens.extend(s_stem(p) for p in token.split("-") if p and p not in STOPWORDS)
    return tokens
