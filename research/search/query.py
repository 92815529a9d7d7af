"""The one search syntax users type, parsed without touching the database.

Syntax: words, ``"exact phrases"``, ``OR`` between two terms, ``-word`` and
``-"phrase"`` to exclude. Terms side by side must all match; ``OR`` binds
tighter than that, so ``sheriff jail OR detention`` means *sheriff and (jail or
detention)*. ``AND`` and ``NOT`` are understood too (``NOT x`` is ``-x``).

Any input parses: unbalanced quotes close at the end, lone operators and
punctuation are dropped, and very long input is cut. Each backend compiles a
query to its own full-text language (``to_fts5`` in backends/sqlite.py,
``to_tsquery_sql`` in backends/postgres.py), quoting every term, so nothing a
user types can reach SQL or the full-text query language as syntax.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 500
MAX_TERMS = 24
MAX_WORDS_PER_TERM = 12

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-"})
# A token: an optional minus, then a quoted phrase (maybe unclosed) or a bare word.
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Term:
    """A word or an exact phrase, kept as the words it is made of."""

    words: tuple[str, ...]
    phrase: bool = False

    def __str__(self) -> str:
        text = " ".join(self.words)
        return f'"{text}"' if self.phrase or len(self.words) > 1 else text


@dataclass(frozen=True)
class Query:
    """All ``groups`` must match (each group: any of its terms); no ``excluded`` term may."""

    groups: tuple[tuple[Term, ...], ...] = ()
    excluded: tuple[Term, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.groups or self.excluded)

    def __str__(self) -> str:
        parts = [" OR ".join(str(term) for term in group) for group in self.groups]
        parts += [f"-{term}" for term in self.excluded]
        return " ".join(parts)

    @property
    def has_positive(self) -> bool:
        return bool(self.groups)

    def terms(self) -> list[Term]:
        """Every positive term, for highlighting."""
        return [term for group in self.groups for term in group]


def _term(text: str, *, phrase: bool) -> Term | None:
    words = tuple(w.lower() for w in _WORD.findall(text))[:MAX_WORDS_PER_TERM]
    if not words:
        return None
    # Several words from one token ("287(g)", "e-verify") can only match as a phrase.
    return Term(words=words, phrase=phrase or len(words) > 1)


def parse_query(raw: object) -> Query:
    """Parse whatever a user typed into a :class:`Query`; never raises."""
    if not isinstance(raw, str):
        return Query()
    text = unicodedata.normalize("NFKC", raw[: MAX_QUERY_CHARS * 2])[:MAX_QUERY_CHARS]
    text = text.translate(_QUOTES).translate(_DASHES).replace("\x00", " ")

    groups: list[list[Term]] = []
    excluded: list[Term] = []
    pending_or = False
    negate_next = False
    count = 0
    for match in _TOKEN.finditer(text):
        if count >= MAX_TERMS:
            break
        minus, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None:
            if bare in {"OR", "|", "||"}:
                pending_or = bool(groups) and not negate_next
                continue
            if bare in {"AND", "&", "&&", "+"}:
                continue
            if bare == "NOT":
                negate_next = True
                continue
            negative = bare.startswith("-") and len(bare) > 1
            term = _term(bare, phrase=False)
        else:
            negative = bool(minus)
            term = _term(quoted, phrase=True)
        negative = negative or negate_next
        negate_next = False
        if term is None:
            continue
        count += 1
        if negative:
            if term not in excluded:
                excluded.append(term)
            pending_or = False
            continue
        if pending_or and groups:
            if term not in groups[-1]:
                groups[-1].append(term)
        elif [term] not in groups:
            groups.append([term])
        pending_or = False
    return Query(groups=tuple(tuple(g) for g in groups), excluded=tuple(excluded))
