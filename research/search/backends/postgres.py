"""PostgreSQL backend: weighted tsvectors with GIN indexes (ranked by research/search/ranking.py)."""

# SQL here is assembled from constants, model table names and integer ids only;
# every user value is a bound parameter, and search terms reach tsquery quoted by query.py.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np
from django.db import transaction

from research.models import Annotation
from research.search.backends.base import (
    ENTRY_TABLE,
    NOTE_WORD_TABLE,
    PREFIX,
    STEMS_KEPT,
    WORD_TABLE,
    Matches,
    Schema,
    SearchBackend,
    table,
)
from research.search.query import Query, Term

# Most candidates whose phrase is checked one by one among the allowed entries.
VERIFY_LIMIT = 5_000
# ... and only if the filters leave fewer than 1 / WITHIN_GAIN of them: checked by
# primary key, a candidate costs more than one rechecked in a bitmap scan.
WITHIN_GAIN = 2
# Excluded words, and a phrase among few entries, are checked on each candidate
# read by primary key up to this many (cheap per candidate, but linear); past it
# the index finds every entry holding them at once.
VERIFY_BY_KEY = 500

# The search schema's triggers, as (trigger, table); the parameter is a LIKE pattern.
_TRIGGERS_OF_SCHEMA = """SELECT t.tgname, c.relname FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal AND n.nspname = current_schema() AND t.tgname LIKE %s"""

_LIKE_PREFIX = PREFIX.replace("_", "\\_") + "%"


# --- The query, as tsquery SQL ----------------------------------------------------


def _pg_term(term: Term, params: list) -> str:
    params.append(" ".join(term.words))
    # phraseto_tsquery: a multi-word term must match as a phrase, like FTS5.
    return "phraseto_tsquery('english', %s)"


def _pg_any(terms: tuple[Term, ...], params: list) -> str:
    return "(" + " || ".join(_pg_term(t, params) for t in terms) + ")"


def to_tsquery_sql(query: Query) -> tuple[str, list, str, list]:
    """(positive SQL, params, negative SQL, params): PostgreSQL tsquery expressions.

    Every term is a bound parameter of ``phraseto_tsquery``; the operators come
    from the parsed structure, never from the user's text.
    """
    pos_params: list = []
    neg_params: list = []
    positive = " && ".join(_pg_any(group, pos_params) for group in query.groups)
    negative = _pg_any(query.excluded, neg_params) if query.excluded else ""
    return positive, pos_params, negative, neg_params


def _id_array(text: str | None) -> np.ndarray:
    """Entry ids aggregated by ``string_agg(id::text, ',')``: parsing one string is
    ~8 times cheaper than fetching 95,000 rows."""
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)


def _id_param(ids: np.ndarray) -> str:
    """Entry ids as one array literal parameter: the driver adapts a list of ints one
    by one, which costs more than building the literal."""
    return "{" + ",".join(map(str, ids.tolist())) + "}"


def _any_sql(terms, params: list, function: str) -> str:
    """Any of ``terms``, each through ``function`` (phraseto_tsquery or plainto_tsquery)."""
    params += [" ".join(term.words) for term in terms]
    return "(" + " || ".join(f"{function}('english', %s)" for _term in terms) + ")"


def _gin_ids(cursor, tsquery: str, params: list) -> np.ndarray:
    cursor.execute(
        f"SELECT string_agg(w.id::text, ',') FROM {WORD_TABLE} w WHERE w.vector @@ ({tsquery})",
        params,
    )
    return _id_array(cursor.fetchone()[0])


def _verified(cursor, ids: np.ndarray, tsquery: str, params: list) -> np.ndarray:
    """The ``ids`` whose words match ``tsquery``, each checked on its positions."""
    if len(ids) == 0:
        return ids
    # Read by primary key, each row once: left to itself the planner may scan the
    # GIN index for the phrase instead and re-check all its (23,000) candidates.
    cursor.execute(
        f"WITH c AS MATERIALIZED (SELECT w.id, w.vector FROM {WORD_TABLE} w"
        f" WHERE w.id = ANY(%s::bigint[]))"
        f" SELECT string_agg(c.id::text, ',') FROM c WHERE c.vector @@ ({tsquery})",
        [_id_param(ids), *params],
    )
    return _id_array(cursor.fetchone()[0])


def _match_within(cursor, query: Query, within: np.ndarray, phrases: set[Term]) -> Matches | None:
    """The matches among ``within`` of a query with ``phrases``, or None if that costs more.

    Checking a phrase reads each candidate's positions, which is slow. The GIN
    index finds, without reading them, the entries that hold all the words of
    each phrase (and none of the excluded plain words); of those, only the
    ones the filters allow are checked: in one state, often a few hundred
    instead of tens of thousands.
    """
    if not phrases:
        return None  # the GIN index alone answers exactly
    plain_out = [t for t in query.excluded if t not in phrases]
    phrase_out = [t for t in query.excluded if t in phrases]
    candidates = np.zeros(0, np.int64)
    if not query.groups:
        if plain_out:
            return None
        found = within
    else:
        params: list = []
        loose = " && ".join(_any_sql(g, params, "plainto_tsquery") for g in query.groups)
        if plain_out:
            loose = f"({loose}) && !!{_any_sql(plain_out, params, 'plainto_tsquery')}"
        candidates = _gin_ids(cursor, loose, params)
        found = np.intersect1d(candidates, within, assume_unique=True)
        if phrases.intersection(query.terms()):
            if len(found) > VERIFY_LIMIT or WITHIN_GAIN * len(found) > len(candidates):
                return None
            params = []
            strict = " && ".join(_any_sql(g, params, "phraseto_tsquery") for g in query.groups)
            found = _verified(cursor, found, strict, params)
    if not phrase_out:
        return Matches(found)
    params = []
    out = _gin_ids(cursor, _any_sql(phrase_out, params, "plainto_tsquery"), params)
    excluded = np.intersect1d(out, found, assume_unique=True)
    unfiltered = np.intersect1d(out, candidates, assume_unique=True) if query.groups else out
    if len(excluded) > VERIFY_LIMIT or WITHIN_GAIN * len(excluded) > len(unfiltered):
        return None
    params = []
    excluded = _verified(cursor, excluded, _any_sql(phrase_out, params, "phraseto_tsquery"), params)
    if not query.groups:
        return Matches(excluded, excluded=True)
    return Matches(np.setdiff1d(found, excluded, assume_unique=True))


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy 2's hashing ``unique`` is ~100 times slower here)."""
    ids = np.sort(ids)
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if len(ids) else ids


@dataclasses.dataclass(frozen=True)
class _Pairs:
    """A phrase's consecutive word pairs, each as the one lexeme "a b" of the pairs index."""

    keys: tuple[str, ...]
    # A phrase of exactly one pair matches wherever its pair is: no positions to check.
    exact: bool

    @property
    def tsquery(self) -> str:
        """Every pair, each quoted as one lexeme (tsquery quoting: '' and \\)."""
        quoted = (key.replace("\\", "\\\\").replace("'", "''") for key in self.keys)
        return " & ".join(f"'{key}'" for key in quoted)


# Phrase -> its pairs (None: not a phrase once stop words are dropped), as the
# english configuration gives them; remembered by the process, as words' stems are.
_pairs_of: dict[str, _Pairs | None] = {}


def _phrase_pairs(cursor, terms: list[Term]) -> dict[Term, _Pairs]:
    """The ``terms`` that stay phrases once stop words are dropped ("the jail" does not),
    with their word pairs.

    The pairs come from the positions ``to_tsvector`` gives the phrase, as the
    entries' pairs come from theirs; a phrase whose words are never adjacent
    ("stake over hear": a stop word between) has none.
    """
    texts = {term: " ".join(term.words) for term in terms}
    missing = [text for text in dict.fromkeys(texts.values()) if text not in _pairs_of]
    if missing:
        cursor.execute(
            "SELECT position('<' in phraseto_tsquery('english', t)::text) > 0,"
            " tsvector_to_array(search_pairs(to_tsvector('english', t))),"
            " (SELECT count(*) FROM unnest(to_tsvector('english', t)) u, unnest(u.positions) p)"
            " FROM unnest(%s::text[]) t",
            [missing],
        )
        if len(_pairs_of) > STEMS_KEPT:
            _pairs_of.clear()
        for text, (phrase, keys, positions) in zip(missing, cursor.fetchall(), strict=True):
            exact = len(keys) == 1 and positions == 2
            _pairs_of[text] = _Pairs(tuple(keys), exact=exact) if phrase else None
    return {term: _pairs_of[text] for term, text in texts.items() if _pairs_of[text] is not None}


def _phrase_ids(cursor, term: Term, pairs: _Pairs, among: np.ndarray | None = None) -> np.ndarray:
    """The entries (sorted ids) where ``term`` matches as a phrase; if not exact, only
    those among ``among`` are checked."""
    params: list = []
    phrase = _any_sql([term], params, "phraseto_tsquery")
    if among is not None and len(among) <= VERIFY_BY_KEY:
        # A common pair ("police department") has hundreds of thousands of entries:
        # among a few, each checked by key costs less than reading them all.
        return np.sort(_verified(cursor, among, phrase, params))
    by_pairs = (
        f"SELECT w.id, w.vector FROM {WORD_TABLE} w WHERE search_pairs(w.vector) @@ %s::tsquery"
    )
    if pairs.exact or among is not None:
        cursor.execute(f"SELECT string_agg(c.id::text, ',') FROM ({by_pairs}) c", [pairs.tsquery])
        ids = np.sort(_id_array(cursor.fetchone()[0]))
        if pairs.exact:
            return ids
        ids = np.intersect1d(ids, among, assume_unique=True)
        return np.sort(_verified(cursor, ids, phrase, params))
    # The entries holding every pair, each then checked on its positions: one statement.
    cursor.execute(
        f"WITH c AS MATERIALIZED ({by_pairs})"
        f" SELECT string_agg(c.id::text, ',') FROM c WHERE c.vector @@ ({phrase})",
        [pairs.tsquery, *params],
    )
    return np.sort(_id_array(cursor.fetchone()[0]))


def _match_by_pairs(
    cursor, query: Query, within: np.ndarray | None, pairs: dict[Term, _Pairs]
) -> Matches | None:
    """The matches of a query with phrases, each phrase found by its word pairs.

    Without the pairs, a phrase re-reads the positions of every entry holding
    all its words, often thousands more than the pairs index returns. A longer
    phrase checks only the entries holding all its pairs. The plain terms are
    matched together by the words index, as without phrases; a phrase with no
    adjacent words gives None (the caller re-checks positions instead).
    """
    if not query.groups or not pairs or not all(p.keys for p in pairs.values()):
        return None
    plain_groups = [g for g in query.groups if not any(t in pairs for t in g)]
    plain_out = [t for t in query.excluded if t not in pairs]
    found: np.ndarray | None = None
    if plain_groups:
        params: list = []
        tsquery = " && ".join(_any_sql(g, params, "phraseto_tsquery") for g in plain_groups)
        if plain_out:
            tsquery = f"({tsquery}) && !!{_any_sql(plain_out, params, 'phraseto_tsquery')}"
            plain_out = []
        found = np.sort(_gin_ids(cursor, tsquery, params))
    for group in query.groups:
        if group in plain_groups:
            continue
        among = found if found is not None else within
        parts = [_phrase_ids(cursor, t, pairs[t], among) for t in group if t in pairs]
        others = [t for t in group if t not in pairs]
        if others:
            params = []
            parts.append(_gin_ids(cursor, _any_sql(others, params, "phraseto_tsquery"), params))
        ids = _sorted_unique(np.concatenate(parts))
        found = ids if found is None else np.intersect1d(found, ids, assume_unique=True)
    if plain_out:  # excluded words, and only phrases to match: checked on the few, else indexed
        params = []
        tsquery = _any_sql(plain_out, params, "phraseto_tsquery")
        if len(found) <= VERIFY_BY_KEY:
            out = _verified(cursor, found, tsquery, params)
        else:
            out = _gin_ids(cursor, tsquery, params)
        found = np.setdiff1d(found, out, assume_unique=True)
    for term in query.excluded:
        if term in pairs:
            out = _phrase_ids(cursor, term, pairs[term], among=found)
            found = np.setdiff1d(found, out, assume_unique=True)
    return Matches(found)


class PostgresBackend(SearchBackend):
    vendor = "postgresql"
    note_table = NOTE_WORD_TABLE

    def reindex(self, cursor) -> None:
        cursor.execute("SELECT search_reindex()")
        cursor.execute(f"TRUNCATE {NOTE_WORD_TABLE}")
        cursor.execute(f"SELECT search_index_notes(ARRAY(SELECT id FROM {table(Annotation)}))")

    def index_documents(self, cursor, ids: list[int]) -> None:
        cursor.execute("SELECT search_index_documents(%s::bigint[])", [list(map(int, ids))])

    def index_agencies(self, cursor, ids: list[int]) -> None:
        cursor.execute("SELECT search_index_agencies(%s::bigint[])", [list(map(int, ids))])

    @contextlib.contextmanager
    def paused(self, cursor) -> Iterator[None]:
        cursor.execute(_TRIGGERS_OF_SCHEMA, [_LIKE_PREFIX])
        triggers = cursor.fetchall()
        for name, on_table in triggers:
            cursor.execute(f'ALTER TABLE "{on_table}" DISABLE TRIGGER "{name}"')
        try:
            yield
        finally:
            for name, on_table in triggers:
                cursor.execute(f'ALTER TABLE "{on_table}" ENABLE TRIGGER "{name}"')

    def schema(self, cursor) -> Schema:
        found = Schema()
        like = _LIKE_PREFIX
        cursor.execute(
            "SELECT c.relname, c.relkind, a.attname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
            " AND NOT a.attisdropped AND c.relkind = 'r'"
            " WHERE n.nspname = current_schema() AND c.relname LIKE %s"
            " AND c.relkind IN ('r', 'i') ORDER BY c.relname, a.attnum",
            [like],
        )
        for name, kind, attribute in cursor.fetchall():
            if kind == "i":
                found.indexes.add(name)
            else:
                found.tables.setdefault(name, []).append(attribute)
        cursor.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = current_schema() AND p.proname LIKE %s",
            [like],
        )
        found.functions = {row[0] for row in cursor.fetchall()}
        cursor.execute(_TRIGGERS_OF_SCHEMA, [like])
        found.triggers = set(cursor.fetchall())
        return found

    @contextlib.contextmanager
    def not_waiting(self, cursor) -> Iterator[None]:
        # A transaction of its own, or a savepoint in the caller's, so that a failure
        # leaves the caller's usable (and rolls the setting back); after a success the
        # rest of it waits as before.
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
        with transaction.atomic(using=cursor.db.alias):
            cursor.execute("SELECT set_config('lock_timeout', '100ms', true)")
            yield
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])

    def among(self, column: str, ids: list[int]) -> tuple[str, list]:
        # The same statement whatever the ids, so that it is prepared once a connection.
        return f"{column} = ANY(%s::bigint[])", [_id_param(np.asarray(ids, np.int64))]

    def joined(self, expression: str, separator: str) -> str:
        return f"string_agg(CAST({expression} AS text), '{separator}')"

    def match_ids(
        self, cursor, query: Query, within: np.ndarray | None = None, *, head: bool = False
    ) -> Matches | None:
        """One GIN bitmap scan of the narrow words table, read as one string.

        The GIN index answers plain words, OR and exclusions exactly; a phrase
        needs the positions, so the rows it may match are re-read (detoasted)
        and checked. PostgreSQL keeps that "check again" flag per heap page,
        and the words table holds ~130 rows a page: one possible phrase match
        on a page makes every match on it be re-read. So an excluded phrase is
        checked only among the rows that also hold all its words
        (``P AND NOT id IN (P && N)``), not over every match of ``P``, a tenth
        of the work for a common word.
        """
        positive, pos_params, negative, neg_params = to_tsquery_sql(query)
        if not positive and not negative:
            return None
        if head:
            return self._match_head(cursor, positive, pos_params, negative, neg_params, within)
        # Its own transaction (or the caller's), for the settings below to hold
        # for these statements only: a search that does not ask the database to
        # match waits on no BEGIN and COMMIT.
        with transaction.atomic(using=cursor.db.alias, savepoint=False):
            return self._match_words(
                cursor, query, within, positive, pos_params, negative, neg_params
            )

    def _match_words(
        self,
        cursor,
        query: Query,
        within: np.ndarray | None,
        positive: str,
        pos_params: list,
        negative: str,
        neg_params: list,
    ) -> Matches:
        # The planner does not count the reading of long vectors; JIT compiling
        # a statement that runs in milliseconds costs more than it saves; and the
        # ids an excluded phrase removes must fit a hashed NOT IN (run as a
        # plain subplan, it would be read again for every match).
        cursor.execute(
            "SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true),"
            " set_config('work_mem', '32MB', true)"
        )
        several = [t for t in dict.fromkeys([*query.terms(), *query.excluded]) if len(t.words) > 1]
        if several:
            pairs = _phrase_pairs(cursor, several)
            matches = _match_by_pairs(cursor, query, within, pairs)
            if matches is None and within is not None:
                matches = _match_within(cursor, query, within, set(pairs))
            if matches is not None:
                return matches
        select = f"SELECT string_agg(w.id::text, ',') FROM {WORD_TABLE} w WHERE"
        if not positive:
            cursor.execute(f"{select} w.vector @@ ({negative})", neg_params)
            return Matches(_id_array(cursor.fetchone()[0]), excluded=True)
        if negative and any(len(term.words) > 1 for term in query.excluded):
            cursor.execute(
                f"{select} w.vector @@ ({positive}) AND w.id NOT IN (SELECT x.id"
                f" FROM {WORD_TABLE} x WHERE x.vector @@ (({positive}) && ({negative})))",
                [*pos_params, *pos_params, *neg_params],
            )
        elif negative:
            cursor.execute(
                f"{select} w.vector @@ (({positive}) && !!({negative}))",
                [*pos_params, *neg_params],
            )
        else:
            cursor.execute(f"{select} w.vector @@ ({positive})", pos_params)
        return Matches(_id_array(cursor.fetchone()[0]))

    def _match_head(
        self,
        cursor,
        positive: str,
        pos_params: list,
        negative: str,
        neg_params: list,
        within: np.ndarray | None,
    ) -> Matches:
        """The entries whose title and summary match: the GIN index of ``head`` (short
        vectors, so phrases are checked on the spot); among a few entries, each is
        checked by key instead (a common phrase's head matches are many)."""
        select = f"SELECT string_agg(e.id::text, ',') FROM {ENTRY_TABLE} e WHERE"
        if not positive:
            cursor.execute(f"{select} e.head @@ ({negative})", neg_params)
            return Matches(_id_array(cursor.fetchone()[0]), excluded=True)
        tsquery = f"({positive}) && !!({negative})" if negative else positive
        params = [*pos_params, *neg_params] if negative else pos_params
        if within is not None and len(within) <= VERIFY_LIMIT:
            cursor.execute(
                f"WITH c AS MATERIALIZED (SELECT e.id, e.head FROM {ENTRY_TABLE} e"
                f" WHERE e.id = ANY(%s::bigint[]))"
                f" SELECT string_agg(c.id::text, ',') FROM c WHERE c.head @@ ({tsquery})",
                [_id_param(within), *params],
            )
        else:
            cursor.execute(f"{select} e.head @@ ({tsquery})", params)
        return Matches(_id_array(cursor.fetchone()[0]))

    def stems(self, cursor, words: list[str]) -> list[list[str]]:
        """The english configuration's lexemes of each word (none for a stop word)."""
        if not words:
            return []
        cursor.execute(
            "SELECT w.n, t.lexeme FROM unnest(%s::text[]) WITH ORDINALITY w(word, n),"
            " unnest(to_tsvector('english', w.word)) t",
            [list(words)],
        )
        stems: list[list[str]] = [[] for _ in words]
        for n, lexeme in cursor.fetchall():
            stems[n - 1].append(lexeme)
        return stems

    def postings(self, cursor, stems: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each stem's occurrences by weight (A title, B summary, C body) in each vector
        that holds it, found with the GIN index.

        ``ts_rank_cd`` of a one-lexeme query, normalization 0, is the sum of the
        weights of its positions (a cover a position): with the weight of one
        field 1 and the others 0 it is that field's count, read in C without
        turning the vector into rows (a tenth of the time of ``unnest``). A
        vector keeps at most 256 positions of a lexeme: past that the count
        saturates, where BM25's own saturation has long made it matter little.
        """
        queries = ["'" + s.replace("\\", "\\\\").replace("'", "''") + "'" for s in stems]
        counts = ", ".join(
            f"string_agg(ts_rank_cd('{weights}', w.vector, s.q, 0)::int::text, ',')"
            for weights in ("{0,0,0,1}", "{0,0,1,0}", "{0,1,0,0}")  # {D,C,B,A}: A, B, C
        )
        cursor.execute(
            f"SELECT s.stem, string_agg(w.id::text, ','), {counts}"
            " FROM unnest(%s::text[], %s::tsquery[]) s(stem, q)"
            f" JOIN {WORD_TABLE} w ON w.vector @@ s.q GROUP BY s.stem",
            [list(stems), queries],
        )
        empty = (np.zeros(0, np.int64), np.zeros((0, 3), np.int64))
        result = dict.fromkeys(stems, empty)
        for stem, ids, *columns in cursor.fetchall():
            result[stem] = (_id_array(ids), np.stack([_id_array(c) for c in columns], axis=1))
        return result

    # --- Notes --------------------------------------------------------------------

    def match_note_ids(self, cursor, query: Query) -> Matches | None:
        # Notes are few and short: the GIN index answers, phrases are checked on the spot.
        positive, pos_params, negative, neg_params = to_tsquery_sql(query)
        select = f"SELECT string_agg(n.id::text, ',') FROM {NOTE_WORD_TABLE} n WHERE"
        if positive and negative:
            cursor.execute(
                f"{select} n.vector @@ (({positive}) && !!({negative}))", [*pos_params, *neg_params]
            )
        elif positive:
            cursor.execute(f"{select} n.vector @@ ({positive})", pos_params)
        elif negative:
            cursor.execute(f"{select} n.vector @@ ({negative})", neg_params)
            return Matches(_id_array(cursor.fetchone()[0]), excluded=True)
        else:
            return None
        return Matches(_id_array(cursor.fetchone()[0]))

    def rank_notes(self, cursor, query: Query, note_ids: np.ndarray) -> list[tuple[int, float]]:
        if len(note_ids) == 0:
            return []
        positive, pos_params, _negative, _neg_params = to_tsquery_sql(query)
        cursor.execute(
            f"SELECT n.id, ts_rank_cd(n.vector, {positive}) FROM {NOTE_WORD_TABLE} n"
            " WHERE n.id = ANY(%s::bigint[])",
            [*pos_params, _id_param(np.asarray(note_ids))],
        )
        scored = cursor.fetchall()
        scored.sort(key=lambda row: (-row[1], -row[0]))
        return [(int(note_id), float(score)) for note_id, score in scored]
