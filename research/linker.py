"""Find the known agencies that a text names (pure: no database access).

The text and every agency name are reduced to the same token sequence
(Unicode-normalized, case-folded, apostrophes dropped, a few abbreviations
spelled out), so "POLK COUNTY SHERIFF’S OFFICE", "Polk Co. Sheriffs Office"
and "Polk County Sheriff's Office" are one key. A dictionary of token tuples
indexed by first token finds every mention in one pass over the text, whatever
the number of agencies. The same name held by agencies in several states is
resolved by the states the text mentions, nearest first.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import us

__all__ = ["AgencyLinker", "KnownAgency", "Mention", "normalize_tokens"]

# Tokens that mean the same thing in agency names; applied to text and names alike.
_SYNONYMS = {
    "co": "county",
    "cnty": "county",
    "cty": "county",
    "dept": "department",
    "ofc": "office",
    "st": "saint",
    "ft": "fort",
    "mt": "mount",
    "pd": "police department",
    "sheriff": "sheriffs",
}
# Words that do not name an agency by themselves ("Sheriff's Office", "Police").
_GENERIC = {
    "the",
    "of",
    "county",
    "city",
    "town",
    "village",
    "sheriffs",
    "office",
    "department",
    "police",
    "state",
    "corrections",
    "correction",
    "public",
    "safety",
    "jail",
    "detention",
    "center",
    "and",
    "patrol",
    "highway",
    "marshal",
    "marshals",
    "service",
    "law",
    "enforcement",
    "division",
    "bureau",
    "agency",
    "regional",
    "facility",
    "authority",
}
_APOSTROPHES = dict.fromkeys(map(ord, "'’‘ʼ`´"), None)
# Characters replaced one for one before tokenizing: apostrophes become "'",
# quotes, dashes, ellipses and no-break spaces become spaces.
_ONE_TO_ONE = {
    **dict.fromkeys(map(ord, "’‘ʼ`´"), "'"),
    **dict.fromkeys(map(ord, "“”„«»–—―…\u00a0\u2009\u202f"), " "),
}
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|\n\s*\n")

# How strong each kind of match is before state evidence is weighed.
_BASE_CONFIDENCE = {"name": 0.8, "alias": 0.75, "variant": 0.65}
_NEAR_CHARS = 300  # "near the mention": within this many characters


@dataclass(frozen=True)
class KnownAgency:
    """What the linker needs to know about an agency."""

    id: int
    name: str
    state: str
    aliases: tuple[str, ...] = ()
    county: str = ""


@dataclass
class Mention:
    """An agency the text names, with how sure we are and where."""

    agency_id: int
    confidence: float
    passage: str
    start: int
    end: int
    matched: str
    count: int = 1
    states_near: tuple[str, ...] = field(default_factory=tuple)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()


def _add_token(out: list[tuple[str, int, int]], word: str, start: int, end: int) -> None:
    synonym = _SYNONYMS.get(word)
    if synonym is None:
        out.append((word, start, end))
    else:
        out.extend((token, start, end) for token in synonym.split())


def _tokens_with_spans(text: str) -> list[tuple[str, int, int]]:
    """Normalized tokens of ``text`` with their character spans in ``text``."""
    # Fast path: when lower-casing and NFKC keep every offset (the usual case once
    # curly quotes and dashes are mapped one character to one), one regex pass.
    lowered = text.translate(_ONE_TO_ONE).lower()
    if len(lowered) == len(text) and unicodedata.is_normalized("NFKC", lowered):
        out: list[tuple[str, int, int]] = []
        for match in _WORD_RE.finditer(lowered):
            word = match.group()
            if "'" in word:
                word = word.replace("'", "")
            _add_token(out, word, match.start(), match.end())
        return out
    return _tokens_with_spans_slow(text)


def _tokens_with_spans_slow(text: str) -> list[tuple[str, int, int]]:
    """Word by word, for text whose normalization changes lengths (ligatures, NFD)."""
    out: list[tuple[str, int, int]] = []
    # Drop apostrophes inside words ("Sheriff's" -> "Sheriffs") without moving offsets.
    masked = re.sub(r"(?<=\w)['’‘ʼ`´](?=\w)", "\u200b", text)
    for match in re.finditer(r"[^\W_]+(?:\u200b[^\W_]+)*", masked):
        word = _fold(match.group().replace("\u200b", ""))
        for piece in _TOKEN_RE.findall(word):
            _add_token(out, piece, match.start(), match.end())
    return out


def normalize_tokens(name: str) -> tuple[str, ...]:
    """The match key of an agency name: normalized tokens."""
    return tuple(token for token, _, _ in _tokens_with_spans(name))


def _variants(tokens: tuple[str, ...], state_name: str) -> set[tuple[str, ...]]:
    """Other ways people write the same agency name."""
    out: set[tuple[str, ...]] = set()
    sheriff_suffixes = [("sheriffs", "office"), ("sheriffs", "department"), ("sheriffs",)]
    for suffix in sheriff_suffixes:
        if tokens[-len(suffix) :] != suffix or len(tokens) == len(suffix):
            continue
        stem = tokens[: -len(suffix)]
        out |= {stem + other for other in sheriff_suffixes}
        if stem[-1] in {"county", "parish"}:
            # "Sheriff of Polk County", "Sheriff of Jefferson Parish"
            out.add(("sheriffs", "of") + stem)
        break
    if tokens[-2:] == ("police", "department"):
        stem = tokens[:-2]
        for prefix in (("city", "of"), ("town", "of"), ("village", "of")):
            if stem[:2] == prefix:
                out |= {stem[2:] + ("police", "department"), stem[2:] + ("police",)}
        out.add(stem + ("police",))
        out.add(("police", "department", "of") + stem)
    for prefix in (("city", "of"), ("town", "of"), ("the",)):
        if tokens[: len(prefix)] == prefix:
            out.add(tokens[len(prefix) :])
    # "Department of Corrections" alone names nothing; "Arkansas Department of ..." does.
    if all(token in _GENERIC for token in tokens) and state_name:
        out.add(normalize_tokens(state_name) + tokens)
    return {variant for variant in out if variant and not _is_generic(variant)}


def _is_generic(tokens: tuple[str, ...]) -> bool:
    """A key too vague to link on: only generic words, or one short word."""
    if all(token in _GENERIC for token in tokens):
        return True
    distinctive = [token for token in tokens if token not in _GENERIC]
    # "Lee Police" is distinctive enough; a lone "sheriffs" variant of "Lee" is not.
    return len(tokens) < 2 and len(distinctive[0]) < 4


def _state_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    """One regex that finds a state named in running text, and name -> USPS code."""
    codes: dict[str, str] = {}
    for state in us.STATES_AND_TERRITORIES:
        codes[state.name] = state.abbr
        codes[state.name.upper()] = state.abbr
        codes[state.abbr] = state.abbr
        if state.ap_abbr:
            codes[state.ap_abbr] = state.abbr
    # Longest first, so "West Virginia" wins over "Virginia" at the same place.
    names = sorted((n for n in codes if len(n) > 2), key=len, reverse=True)
    usps = "|".join(sorted(n for n in codes if len(n) == 2 and n.isupper()))
    pattern = (
        # Every alternative starts with a capital: the lookahead skips other places fast.
        r"(?=[A-Z])(?:"
        # "Washington County" and "Washington, D.C." do not name a state.
        r"\b(?P<name>" + "|".join(map(re.escape, names)) + r")"
        r"(?!\s+County|\s+Parish|,?\s+D\.?\s?C\b)(?=\W|$)"
        # USPS codes only where they read as a state: ", GA", "(TX)", "GA 30303".
        rf"|(?:(?<=, )|(?<=\())(?P<code>{usps})\b|\b(?P<zip>{usps})(?= \d{{5}}\b))"
    )
    return re.compile(pattern), codes


_STATE_RE, _STATE_CODES = _state_pattern()


def find_states(text: str) -> list[tuple[int, str]]:
    """Every state named in ``text``: (character offset, USPS code), in order."""
    return [(match.start(), _STATE_CODES[match.group()]) for match in _STATE_RE.finditer(text)]


def sentence_around(text: str, start: int, end: int, limit: int = 400) -> str:
    """The sentence of ``text`` that contains [start, end), trimmed to ``limit``."""
    left = 0
    for match in _SENTENCE_END.finditer(text, 0, start):
        left = match.end()
    right_match = _SENTENCE_END.search(text, end)
    right = right_match.start() if right_match else len(text)
    half = max(0, (limit - (end - start)) // 2)
    left = max(left, start - half)
    right = min(right, end + half)
    passage = " ".join(text[left:right].split())
    if left > 0 and not text[left - 1].isspace() and _SENTENCE_END.match(text, left - 1) is None:
        passage = "…" + passage
    return passage


class AgencyLinker:
    """An index of agency names; ``find(text)`` lists the agencies a text names."""

    def __init__(self, agencies: Iterable[KnownAgency]):
        # key -> {agency_id: kind of match}; first token -> key lengths to try.
        self._keys: dict[tuple[str, ...], dict[int, str]] = defaultdict(dict)
        self._lengths: dict[str, set[int]] = defaultdict(set)
        self._states: dict[int, str] = {}
        for agency in agencies:
            self._add(agency)

    def __len__(self) -> int:
        return len(self._states)

    def _add(self, agency: KnownAgency) -> None:
        self._states[agency.id] = agency.state.upper()
        state = us.states.lookup(agency.state)
        state_name = state.name if state else ""
        exact = normalize_tokens(agency.name)
        keys: dict[tuple[str, ...], str] = {}
        for kind, names in (("name", [agency.name]), ("alias", agency.aliases)):
            for name in names:
                tokens = normalize_tokens(name)
                if not tokens:
                    continue
                for variant in _variants(tokens, state_name):
                    keys.setdefault(variant, "variant")
                if not _is_generic(tokens):
                    keys[tokens] = "name" if tokens == exact else kind
        for key, kind in keys.items():
            held = self._keys[key]
            if agency.id not in held or _BASE_CONFIDENCE[kind] > _BASE_CONFIDENCE[held[agency.id]]:
                held[agency.id] = kind
            self._lengths[key[0]].add(len(key))

    def _scan(self, tokens: Sequence[tuple[str, int, int]]):
        """Yield (key, start, end) for the longest key at each position."""
        words = [token for token, _, _ in tokens]
        i = 0
        while i < len(words):
            lengths = self._lengths.get(words[i])
            hit = None
            if lengths:
                for length in sorted(lengths, reverse=True):
                    key = tuple(words[i : i + length])
                    if len(key) == length and key in self._keys:
                        hit = key
                        break
            if hit is None:
                i += 1
                continue
            yield hit, tokens[i][1], tokens[i + len(hit) - 1][2]
            i += len(hit)

    def find(self, text: str) -> list[Mention]:
        """The agencies ``text`` names, best first, one ``Mention`` per agency."""
        tokens = _tokens_with_spans(text)
        if not tokens:
            return []
        states = find_states(text)
        doc_states = defaultdict(int)
        for _, code in states:
            doc_states[code] += 1
        mentions: dict[int, Mention] = {}
        for key, start, end in self._scan(tokens):
            candidates = self._keys[key]
            near = {code for offset, code in states if abs(offset - start) <= _NEAR_CHARS}
            for agency_id, confidence in self._judge(candidates, near, doc_states).items():
                self._record(mentions, text, agency_id, confidence, start, end, near)
        return sorted(mentions.values(), key=lambda m: (-m.confidence, m.start))

    def _judge(
        self, candidates: dict[int, str], near: set[str], doc_states: dict[str, int]
    ) -> dict[int, float]:
        """Confidence for each candidate agency of one mention."""
        by_state: dict[str, list[int]] = defaultdict(list)
        for agency_id in candidates:
            by_state[self._states[agency_id]].append(agency_id)

        def evidence(code: str) -> float:
            return (3.0 if code in near else 0.0) + min(doc_states.get(code, 0), 5) * 0.5

        scores = {code: evidence(code) for code in by_state}
        best = max(scores.values())
        out: dict[int, float] = {}
        if len(by_state) == 1:
            (code,) = by_state
            other_states = bool(doc_states) and best == 0
            for agency_id in by_state[code]:
                base = _BASE_CONFIDENCE[candidates[agency_id]]
                if best > 0:
                    base += 0.15 if code in near else 0.1
                elif other_states:
                    base -= 0.2  # the text names other states but never this one
                out[agency_id] = base
            return out
        if best == 0:
            if doc_states:
                # The text is about other states: its namesake is not one we know.
                return {}
            # The same name in several states and nothing to choose by: let curators decide.
            share = 0.6 / len(by_state)
            return {agency_id: min(share, 0.3) for agency_id in candidates}
        winners = [code for code, score in scores.items() if score == best]
        for code in winners:
            for agency_id in by_state[code]:
                base = _BASE_CONFIDENCE[candidates[agency_id]]
                bonus = 0.15 if code in near else 0.05
                out[agency_id] = (base + bonus) / len(winners)
        return out

    @staticmethod
    def _record(mentions, text, agency_id, confidence, start, end, near) -> None:
        confidence = round(max(0.0, min(1.0, confidence)), 3)
        mention = mentions.get(agency_id)
        if mention is None:
            mentions[agency_id] = Mention(
                agency_id=agency_id,
                confidence=confidence,
                passage=sentence_around(text, start, end),
                start=start,
                end=end,
                matched=text[start:end],
                states_near=tuple(sorted(near)),
            )
            return
        mention.count += 1
        if confidence > mention.confidence:
            mention.confidence = confidence
            mention.passage = sentence_around(text, start, end)
            mention.start, mention.end, mention.matched = start, end, text[start:end]
            mention.states_near = tuple(sorted(near))
        # Named again and again: a little surer, never certain.
        mention.confidence = round(min(0.99, mention.confidence + 0.02), 3)
