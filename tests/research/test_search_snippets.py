"""Snippets: about 30 words around the first match, with an ellipsis where text is left out."""

from __future__ import annotations

from research.search.backends.base import ELLIPSIS, MARK_END, MARK_START, excerpt, match_pattern

DETAIN = match_pattern(["detain"])


def words(n: int, word: str = "filler") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def test_a_match_near_the_start_keeps_every_word_before_it():
    snippet = excerpt("", "Deputies may detain people booked into the jail.", DETAIN)

    assert snippet == f"Deputies may {MARK_START}detain{MARK_END} people booked into the jail."


def test_a_match_deep_in_a_long_text_shows_ten_words_before_and_the_rest_after():
    body = f"{words(20_000)} the sheriff will detain them {words(20_000, 'tail')}"

    snippet = excerpt("", body, DETAIN)

    assert snippet.startswith(f"{ELLIPSIS} filler19993 ")
    assert snippet.endswith(f" tail17 {ELLIPSIS}")
    assert f"{MARK_START}detain{MARK_END} them" in snippet
    assert len(snippet.split()) == 32  # 30 words and two ellipses


def test_a_match_in_the_last_words_has_no_trailing_ellipsis():
    snippet = excerpt("", f"{words(100)}\n\n  detained.  \n", DETAIN)

    ten_before = " ".join(f"filler{i}" for i in range(90, 100))
    assert snippet == f"{ELLIPSIS} {ten_before} {MARK_START}detained{MARK_END}."


def test_without_a_match_in_the_text_the_summary_is_searched_then_its_start_shown():
    assert excerpt("They detain.", "Nothing here.", DETAIN) == f"They {MARK_START}detain{MARK_END}."
    assert excerpt("A summary.", "Nothing here.", DETAIN) == "A summary."


def test_only_words_that_start_with_the_stem_are_marked_whatever_their_case():
    snippet = excerpt("", "Undetainable, re_detain. Then DETAINED twice.", DETAIN)

    assert snippet == f"Undetainable, re_detain. Then {MARK_START}DETAINED{MARK_END} twice."
