"""Finding a W3C TextQuoteSelector's passage again in a text that has changed.

Pure code, no database: a text and a quote (exact words, the words around
them, where they were) in, a place out, or None. It follows Hypothesis's
anchoring: the old position if the words and their context are still there,
else an exact occurrence of the words, the one whose context matches best and
lies closest to the old place (unless a close match near the old place, in
the words' own context, scores better), else an approximate occurrence with a bounded
number of errors (edlib's bit-vector search), scored on the similarity of the
words, of the prefix, of the suffix and on closeness, with Hypothesis's
weights (``match-quote.js``).
"""

from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass, replace

import edlib
from rapidfuzz.distance import Levenshtein

# Hypothesis's weights: the words count most, their context next, the place least.
QUOTE_WEIGHT = 50
PREFIX_WEIGHT = 20
SUFFIX_WEIGHT = 20
POSITION_WEIGHT = 2
MAX_SCORE = QUOTE_WEIGHT + PREFIX_WEIGHT + SUFFIX_WEIGHT + POSITION_WEIGHT
# At most a quarter of the words' characters may differ, and never more than 32:
# more errors let a note settle on a different sentence of the same boilerplate.
MAX_ERRORS = 32
ERROR_RATE = 4
# A close match must score this much (of 1) to be taken. It trades orphans for
# wrong places: below it, a similar sentence elsewhere with unrelated context
# (MOAs repeat their boilerplate) takes the note; above it, a clause that changed
# together with both its neighbours is orphaned rather than guessed. (Hypothesis
# takes any match within its error bound.)
MIN_FUZZY_SCORE = 0.7
# A close match near the old place or next to its context scoring this much is
# not bettered by searching the whole text (which costs ~5 ms on 300 pages).
GOOD_ENOUGH_SCORE = 0.9
# How far either side of the old place to look first: about a page of an MOA.
NEAR_CHARS = 3000
# Characters of context that must reappear whole to stretch a close match to it.
SNAP_CHARS = 12
# Neighbours each side whose median shift predicts where a note moved: a few
# wrongly placed ones (on a copy of their clause) do not sway the median.
NEIGHBOURS = 5
# Context occurrences to look beside, nearest the old place first.
MAX_CONTEXT_WINDOWS = 8


@dataclass(frozen=True)
class Quote:
    """What a note remembers of its passage: the words, their context, their old place."""

    exact: str
    prefix: str = ""
    suffix: str = ""
    start: int | None = None


@dataclass(frozen=True)
class Match:
    """Where a quote was found: ``text[start:end]``, how, and how well (1 is perfect)."""

    start: int
    end: int
    method: str  # "position", "quote" or "fuzzy"
    errors: int = 0
    score: float = 1.0


class Text:
    """A text prepared once to place many quotes in it (one document's notes)."""

    def __init__(self, text: str):
        self.text = text
        self._bytes: bytes | None = None

    @property
    def bytes(self) -> bytes:
        # edlib compares bytes; one byte per character keeps offsets equal to the
        # text's, and a character outside Latin-1 becomes "?" in text and quote alike.
        if self._bytes is None:
            self._bytes = self.text.encode("latin-1", "replace")
        return self._bytes

    def place(self, quote: Quote, *, predicted: bool = False) -> Match | None:
        """The best place of ``quote`` in the text, or None when it cannot be placed.

        ``predicted``: ``quote.start`` is where the note's neighbours say it went
        (see :meth:`place_all`), not merely where it was, so the words close to it
        are preferred to an exact copy far away.
        """
        if not quote.exact or not self.text:
            return None
        found = self._at_position(quote)
        if found is not None:
            return found
        exact = self._exact(quote)
        if exact is None:
            return self._fuzzy(quote)
        far = predicted and abs(exact.start - quote.start) > NEAR_CHARS
        if exact.score >= GOOD_ENOUGH_SCORE and not far:
            return exact
        # The words are out of their context, or far from where the neighbours went:
        # a page re-read by OCR or a clause touched there may hold them, close, in
        # their own context. Then a good close match beats a far copy of boilerplate
        # (Hypothesis takes any exact copy; a stack of MOAs repeats clauses, context
        # and all). Only a predicted place is trusted so: the old place of a note
        # behind inserted pages is where other words now stand.
        near = self._fuzzy(quote, everywhere=False)
        if near is None:
            return exact
        # The very words where the neighbours say they went need less context.
        bar = GOOD_ENOUGH_SCORE if far else exact.score
        if near.score < bar or (not far and near.score == exact.score):
            return exact
        if self.text[near.start : near.end] == quote.exact:
            return Match(near.start, near.end, "quote", 0, near.score)
        return near

    def place_all(self, quotes: list[Quote]) -> list[Match | None]:
        """The places of many quotes of one old text (a document's notes), in order.

        Each is placed once; then each that landed far from where its neighbours
        moved (or nowhere) is placed again with, as its old place, the place the
        shift of its nearest neighbours predicts: a page inserted early in a long
        text moves everything after it further than :data:`NEAR_CHARS`.
        """
        first = [self.place(quote) for quote in quotes]
        shifts = sorted(
            (quote.start, match.start - quote.start)
            for quote, match in zip(quotes, first, strict=True)
            if match is not None and quote.start is not None and match.method != "fuzzy"
        )
        if not shifts:
            return first
        olds = [old for old, _ in shifts]
        placed = []
        for quote, match in zip(quotes, first, strict=True):
            if quote.start is None:
                placed.append(match)
                continue
            at = bisect.bisect_left(olds, quote.start)
            nearby = shifts[max(0, at - NEIGHBOURS) : at + NEIGHBOURS]
            hint = quote.start + statistics.median_low(shift for _, shift in nearby)
            if match is not None and abs(match.start - hint) <= NEAR_CHARS:
                placed.append(match)
            else:
                placed.append(self.place(replace(quote, start=hint), predicted=True) or match)
        return placed

    # --- The three ways, in order --------------------------------------------------

    def _at_position(self, quote: Quote) -> Match | None:
        """The old place, if the words and their context are all still there."""
        start = quote.start
        if start is None:
            return None
        end = start + len(quote.exact)
        text = self.text
        if (
            text[start:end] == quote.exact
            and text[max(0, start - len(quote.prefix)) : start] == quote.prefix
            and text[end : end + len(quote.suffix)] == quote.suffix
        ):
            return Match(start, end, "position")
        return None

    def _exact(self, quote: Quote) -> Match | None:
        """The exact occurrence with the best context, nearest the old place."""
        text, exact = self.text, quote.exact
        best: Match | None = None
        found = text.find(exact)
        while found != -1:
            candidate = self._scored(quote, found, found + len(exact), 0, "quote")
            if best is None or candidate.score > best.score:
                best = candidate
            found = text.find(exact, found + 1)
        return best

    def _fuzzy(self, quote: Quote, *, everywhere: bool = True) -> Match | None:
        """The approximate occurrence that scores best, if it scores enough: near the
        old place and the context, then in the whole text; or (not ``everywhere``)
        only near the old place."""
        k = min(MAX_ERRORS, len(quote.exact) // ERROR_RATE)
        if k == 0:
            return None
        needle = quote.exact.encode("latin-1", "replace")
        best = self._best(quote, self._near(quote, needle, k, only_near=not everywhere))
        if everywhere and (best is None or best.score < GOOD_ENOUGH_SCORE):
            best = self._best(quote, [best, *self._search(needle, k, 0, len(self.text))])
        if best is None or best.score < MIN_FUZZY_SCORE:
            return None
        start, end = best.start, best.end
        if best.errors:
            start, end = self._widened(quote, start, end)
        return Match(start, end, "fuzzy", best.errors, best.score)

    def _widened(self, quote: Quote, start: int, end: int) -> tuple[int, int]:
        """A clause that grew by more than the error bound: the close match covers only
        part of it, so it is stretched to where its old context now begins and ends."""
        text, reach = self.text, len(quote.exact) // 2
        head = quote.suffix[:SNAP_CHARS]
        if len(head) == SNAP_CHARS and text[end : end + SNAP_CHARS] != head:
            found = text.find(head, end, end + reach + SNAP_CHARS)
            end = found if found != -1 else end
        tail = quote.prefix[-SNAP_CHARS:]
        if len(tail) == SNAP_CHARS and text[max(0, start - SNAP_CHARS) : start] != tail:
            found = text.rfind(tail, max(0, start - reach - SNAP_CHARS), start)
            start = found + SNAP_CHARS if found != -1 else start
        return start, end

    # --- Approximate search ---------------------------------------------------------

    def _search(self, needle: bytes, k: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """(start, end, errors) of the closest occurrences of ``needle`` in text[lo:hi]."""
        lo, hi = max(0, lo), min(len(self.text), hi)
        if hi - lo <= 0:
            return []
        found = edlib.align(needle, self.bytes[lo:hi], mode="HW", task="locations", k=k)
        errors = found["editDistance"]
        if errors < 0:
            return []
        return [(lo + start, lo + end + 1, errors) for start, end in found["locations"]]

    def _near(
        self, quote: Quote, needle: bytes, k: int, *, only_near: bool = False
    ) -> list[tuple[int, int, int]]:
        """Occurrences around the old place and beside the prefix's and suffix's
        occurrences (``only_near``: those around the old place)."""
        size = len(quote.exact)
        hint = quote.start
        found = []
        if hint is not None:
            found += self._search(needle, k, hint - NEAR_CHARS, hint + size + NEAR_CHARS)
        if only_near:
            return found
        for at in self._occurrences(quote.prefix, hint):
            after = at + len(quote.prefix)
            found += self._search(needle, k, after - k, after + size + k)
        for at in self._occurrences(quote.suffix, hint):
            found += self._search(needle, k, at - size - k, at + k)
        return found

    def _occurrences(self, context: str, hint: int | None) -> list[int]:
        """Where ``context`` occurs, nearest the old place first, at most a few."""
        if len(context) < 8:  # a short context is everywhere: it says nothing
            return []
        places = []
        found = self.text.find(context)
        while found != -1:
            places.append(found)
            found = self.text.find(context, found + 1)
        places.sort(key=lambda at: abs(at - hint) if hint is not None else at)
        return places[:MAX_CONTEXT_WINDOWS]

    # --- Scoring ------------------------------------------------------------------

    def _best(self, quote: Quote, found) -> Match | None:
        best: Match | None = None
        for item in found:
            if item is None:
                continue
            candidate = item if isinstance(item, Match) else self._scored(quote, *item, "fuzzy")
            if best is None or candidate.score > best.score:
                best = candidate
        return best

    def _scored(self, quote: Quote, start: int, end: int, errors: int, method: str) -> Match:
        """Hypothesis's score of a candidate: words, prefix, suffix and place, weighted."""
        text = self.text
        quote_score = 1 - errors / len(quote.exact)
        prefix_score = _similarity(text[max(0, start - len(quote.prefix)) : start], quote.prefix)
        suffix_score = _similarity(text[end : end + len(quote.suffix)], quote.suffix)
        position_score = 1.0
        if quote.start is not None:
            position_score = max(0.0, 1 - abs(start - quote.start) / len(text))
        raw = (
            QUOTE_WEIGHT * quote_score
            + PREFIX_WEIGHT * prefix_score
            + SUFFIX_WEIGHT * suffix_score
            + POSITION_WEIGHT * position_score
        )
        return Match(start, end, method, errors, raw / MAX_SCORE)


def _similarity(found: str, context: str) -> float:
    """How alike two contexts are (1 when equal); a note with no context loses nothing."""
    if not context:
        return 1.0
    return Levenshtein.normalized_similarity(found, context)


def place(text: str, quote: Quote) -> Match | None:
    """The best place of ``quote`` in ``text`` (see :class:`Text` to place many)."""
    return Text(text).place(quote)
