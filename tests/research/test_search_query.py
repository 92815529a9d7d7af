"""The search syntax parser and its compilers: pure functions, no database."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from research.search.backends.postgres import to_tsquery_sql
from research.search.backends.sqlite import to_fts5
from research.search.query import MAX_TERMS, Query, Term, parse_query


def test_words_phrases_or_and_exclusions_parse_into_groups():
    query = parse_query('sheriff jail OR detention -budget -"task force"')
    assert query == Query(
        groups=((Term(("sheriff",)),), (Term(("jail",)), Term(("detention",)))),
        excluded=(Term(("budget",)), Term(("task", "force"), phrase=True)),
    )
    assert str(query) == 'sheriff jail OR detention -budget -"task force"'


def test_curly_quotes_and_dashes_are_understood():
    assert str(parse_query("\u201ctask force\u201d \u2013budget")) == '"task force" -budget'


def test_not_keyword_excludes_and_lowercase_or_is_a_word():
    assert str(parse_query("jail NOT budget")) == "jail -budget"
    assert str(parse_query("jail or budget")) == "jail or budget"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"unclosed phrase', '"unclosed phrase"'),
        ("OR sheriff OR", "sheriff"),
        ("- -- ---", ""),
        ("!!! ??? ...", ""),
        ("287(g)", '"287 g"'),
        ('"" sheriff ""', "sheriff"),
        ("sheriff sheriff", "sheriff"),
    ],
)
def test_junk_is_dropped_not_an_error(raw, expected):
    assert str(parse_query(raw)) == expected


def test_long_input_is_cut_to_a_bounded_query():
    query = parse_query("word " * 10_000)
    assert len(query.groups) <= MAX_TERMS
    query = parse_query(" ".join(f"w{i}" for i in range(1000)))
    assert len(query.groups) == MAX_TERMS


def test_fts5_expression_quotes_every_term():
    positive, negative = to_fts5(parse_query('title:x NEAR(a b) "c* d" -e^ OR'))
    assert positive == '"title x" AND "near a" AND "b" AND "c d"'
    assert negative == '"e"'


def test_tsquery_sql_binds_every_term_as_a_parameter():
    positive, params, negative, neg_params = to_tsquery_sql(parse_query('a\' OR b -"c d"'))
    assert positive == "(phraseto_tsquery('english', %s) || phraseto_tsquery('english', %s))"
    assert params == ["a", "b"]
    assert negative == "(phraseto_tsquery('english', %s))" and neg_params == ["c d"]


def test_random_input_always_compiles_to_safe_expressions():
    rng = random.Random(287)
    alphabet = "ab \"-()*:^|&!'\\OR NOT AND\x00é你🚓\t\n"
    for _ in range(2000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        query = parse_query(raw)
        positive, negative = to_fts5(query)
        for expression in (positive, negative):
            # Outside the quoted strings only operators and parentheses remain.
            assert re.fullmatch(r'(\s|AND|OR|NOT|\(|\)|"[^"]*")*', expression), (raw, expression)
        sql, params, neg_sql, neg_params = to_tsquery_sql(query)
        assert sql.count("%s") == len(params) and neg_sql.count("%s") == len(neg_params)
        assert parse_query(str(query)) == query  # the shown query means the same thing


def test_non_text_input_is_treated_as_empty():
    assert not parse_query(None)
    assert not parse_query(b"bytes")


@given(st.one_of(st.text(), st.text(alphabet="ab \"-()*:^|&!'\\ORNTAD\x00é你🚓\t\n")))
def test_any_text_parses_into_a_query_both_backends_compile_safely(raw):
    """Whatever is typed (any Unicode, NUL bytes, stray operators), parsing never raises,
    stays bounded, and compiles to expressions whose only syntax is the backend's own."""
    query = parse_query(raw)

    assert len(query.terms()) + len(query.excluded) <= MAX_TERMS
    positive, negative = to_fts5(query)
    for expression in (positive, negative):
        assert re.fullmatch(r'(\s|AND|OR|NOT|\(|\)|"[^"]*")*', expression), expression
    sql, params, neg_sql, neg_params = to_tsquery_sql(query)
    assert sql.count("%s") == len(params) and neg_sql.count("%s") == len(neg_params)
    assert all("\x00" not in p for p in [*params, *neg_params])
    assert parse_query(str(query)) == query
