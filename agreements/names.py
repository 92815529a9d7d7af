"""How two agency names of one state compare: the same but for spelling, near, or different.

Used by ``services.identity`` to weigh rename evidence: a typo ("Albermarle"),
an acronym ("BOCC"), the state's name or "City of" dropped, or "Sheriff's
Department" for "Sheriff's Office" is the same name; words added ("Melbourne
Beach", "University of West Florida") make a near name, often another agency.
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz import fuzz

from agreements import normalize

# Two words of at least this length that score this much (rapidfuzz ratio) are
# one word misspelt ("Albermarle"); shorter words must match exactly (Pima/Pinal).
TYPO_MIN_LENGTH = 5
TYPO_SCORE = 80
_ROLE_SYNONYMS = {("sheriff", "department"): ("sheriff", "office")}
_PLACE_PREFIXES = ("city of", "town of", "village of", "the")


def name_likeness(a: str, b: str, *, state: str) -> str:
    """How two name keys of one state compare: "same" (but for spelling), "near" or "different".

    "near" is a name with words added ("Melbourne Beach Police Department",
    "University of West Florida"): often another agency, never merged alone.
    """
    words_a, words_b = _words(a, state), _words(b, state)
    if words_a == words_b or _typos_only(words_a, words_b):
        return "same"
    if _acronym_of(words_a, words_b) or _acronym_of(words_b, words_a):
        return "same"
    expanded_a, expanded_b = _expand(words_a, words_b), _expand(words_b, words_a)
    if _contains(expanded_a, expanded_b) or _contains(expanded_b, expanded_a):
        return "near"
    return "different"


def _words(key: str, state: str) -> list[str]:
    """The words that tell an agency apart: without the state's name or a "City of" prefix."""
    state_words = normalize.name_key(normalize.state_name(state)).split() if state else []
    words = key.split()
    if state_words and words[: len(state_words)] == state_words and len(words) > len(state_words):
        words = words[len(state_words) :]
    text = " ".join(words)
    for prefix in _PLACE_PREFIXES:
        if text.startswith(prefix + " "):
            text = text[len(prefix) + 1 :]
    words = text.split()
    for i in range(len(words) - 1):
        synonym = _ROLE_SYNONYMS.get((words[i], words[i + 1]))
        if synonym:
            words[i : i + 2] = synonym
    return words


def _typos_only(a: list[str], b: list[str]) -> bool:
    if len(a) != len(b):
        return False
    return all(
        x == y
        or (
            min(len(x), len(y)) >= TYPO_MIN_LENGTH
            and x[0] == y[0]
            and not (x.isdigit() or y.isdigit())
            and fuzz.ratio(x, y) >= TYPO_SCORE
        )
        for x, y in zip(a, b, strict=True)
    )


def _acronym_of(short: list[str], long: list[str]) -> bool:
    """Whether ``short`` is ``long`` with a run of words written as initials ("BOCC")."""
    if len(short) >= len(long):
        return False
    for i, word in enumerate(short):
        if len(word) < 2 or not word.isalpha():
            continue
        run = len(word)
        initials = "".join(w[0] for w in long[i : i + run])
        if long[:i] == short[:i] and initials == word and long[i + run :] == short[i + 1 :]:
            return True
    return False


def _expand(words: list[str], other: list[str]) -> list[str]:
    """``words`` with an acronym of ``other``'s words spelled out, if there is one."""
    for i, word in enumerate(words):
        for j in range(len(other)):
            run = other[j : j + len(word)]
            if len(word) >= 2 and len(run) == len(word) and "".join(w[0] for w in run) == word:
                return [*words[:i], *run, *words[i + 1 :]]
    return words


def _contains(short: list[str], long: list[str]) -> bool:
    """Whether ``long`` is ``short`` with words added (in order)."""
    if len(short) >= len(long) or not short:
        return False
    it = iter(long)
    return all(word in it for word in short)


@lru_cache(maxsize=65536)
def initials(key: str, state: str) -> tuple[str, ...]:
    return tuple(word[0] for word in _words(key, state))


@lru_cache(maxsize=65536)
def likeness(a: str, b: str, state: str) -> str:
    return name_likeness(a, b, state=state)
