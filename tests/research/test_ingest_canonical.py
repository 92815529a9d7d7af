"""Canonical URLs: one page under several spellings is one document."""

from __future__ import annotations

import pytest

from research.canonical import canonicalize_url, is_tracking_param, url_key


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("HTTP://News.Example.COM/story", "http://news.example.com/story"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/story/", "https://example.com/story"),
        ("https://example.com/story#comments", "https://example.com/story"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        (
            "https://example.com/a?utm_source=tw&utm_medium=social&id=7&fbclid=XYZ&gclid=1",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?mc_cid=1&mc_eid=2&_ga=3&msclkid=4", "https://example.com/a"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/%7Euser", "https://example.com/~user"),
        ("https://example.com/a%2Fb", "https://example.com/a%2Fb"),
        ("https://user:pw@example.com/x", "https://example.com/x"),
        ("https://bücher.example/moa", "https://xn--bcher-kva.example/moa"),
        ("  https://example.com/x  ", "https://example.com/x"),
        ("https://example.com/search?q=a+b", "https://example.com/search?q=a%20b"),
    ],
)
def test_canonical_spelling(spelling, canonical):
    assert canonicalize_url(spelling) == canonical


def test_meaningful_query_parameters_are_kept():
    url = "https://www.ice.gov/doclib/287gMOA/287gJEM_PolkCoGa.pdf?version=2&page=3"
    assert canonicalize_url(url).endswith("?page=3&version=2")


def test_tracking_parameters_recognized():
    assert is_tracking_param("utm_campaign")
    assert is_tracking_param("UTM_Source")
    assert is_tracking_param("fbclid")
    assert not is_tracking_param("id")
    assert not is_tracking_param("page")


def test_url_key_equal_for_equivalent_spellings():
    a = url_key("https://Example.com/story/?utm_source=x#top")
    b = url_key("https://example.com/story")
    assert a == b and len(a) == 64
    assert url_key("https://example.com/other") != a


def test_non_web_addresses_are_left_alone():
    assert canonicalize_url("mailto:someone@example.org") == "mailto:someone@example.org"
    assert canonicalize_url("http://[bad") == "http://[bad"
