"""The ICE address inside the wrappers that MOA links come in.

Pure: a link as written in a list (plain, inside the Wayback Machine, or
behind an Outlook "safelinks" redirect, even one inside the other) in, the
address on ICE's site out. The history compares these, so a new capture
timestamp or a new safelinks token is not a change of MOA; the MOA linker
matches PDFs by them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from agreements import normalize

# https://web.archive.org/web/20210113002027/https://www.ice.gov/...; the
# timestamp may carry a flag such as id_ or if_, and a bare "http:/" is seen
# where a scheme's second slash was collapsed.
_WAYBACK = re.compile(
    r"^https?://(?:www\.)?web\.archive\.org/web/\d{1,14}(?:[a-z]{2}_)?/+(?P<inner>.+)$",
    re.IGNORECASE,
)
_COLLAPSED_SCHEME = re.compile(r"^(https?):/(?!/)", re.IGNORECASE)
# Wrappers inside wrappers are unwrapped this many times, no more.
MAX_WRAPPERS = 4


@lru_cache(maxsize=65536)
def ice_url(url: str) -> str:
    """The address inside any Wayback Machine or safelinks wrappers; a plain URL unchanged."""
    return unwrap(url)[0]


@lru_cache(maxsize=65536)
def unwrap(url: str) -> tuple[str, tuple[str, ...]]:
    """The address inside the wrappers, and which wrappers were removed ("wayback", "safelinks")."""
    url = normalize.clean_text(url)
    removed: list[str] = []
    for _ in range(MAX_WRAPPERS):
        inner = _wayback_inner(url)
        if inner:
            url, kind = inner, "wayback"
        else:
            inner = _safelinks_inner(url)
            if not inner:
                break
            url, kind = inner, "safelinks"
        removed.append(kind)
    # A space is written %20, as a browser sends it: ICE's lists spell one link both ways.
    return url.replace(" ", "%20"), tuple(removed)


def _wayback_inner(url: str) -> str:
    match = _WAYBACK.match(url)
    if not match:
        return ""
    inner = _COLLAPSED_SCHEME.sub(r"\1://", match.group("inner").strip())
    if not inner.lower().startswith(("http://", "https://")):
        inner = "http://" + inner  # the Wayback Machine accepts a bare host
    return inner


def _safelinks_inner(url: str) -> str:
    if "safelinks" not in url.lower():
        return ""
    parts = urlsplit(url)
    if not (parts.hostname or "").lower().endswith("safelinks.protection.outlook.com"):
        return ""
    inner = parse_qs(parts.query).get("url")
    return inner[0].strip() if inner else ""
