"""Canonical URLs, so that one page found under several spellings is one document.

Pure functions, no database. Lower-case scheme and host (IDNA-encoded), no
default port, no user info, no fragment, no tracking parameters, the remaining
query sorted, percent-encoding normalized, dot segments resolved and a trailing
slash dropped from any path but the root. The standard library does this
predictably; ``courlan`` (installed with trafilatura) was tried and re-encodes
path characters such as ``;``, keeps fragments and leaves IDN hosts unencoded.
"""

from __future__ import annotations

import contextlib
import hashlib
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_conv",
        "vero_id",
        "wickedid",
        "rb_clickid",
        "s_cid",
        "cmpid",
        "ocid",
        "ref_src",
        "ref_url",
        "sr_share",
        "smid",
        "xtor",
        "spm",
        "at_medium",
        "at_campaign",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "__hs", "matomo_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 unreserved characters need no escaping; anything else stays escaped.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def is_tracking_param(name: str) -> bool:
    """True for query parameters that only say where a click came from."""
    name = name.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def _remove_dot_segments(path: str) -> str:
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if path.endswith(("/.", "/..")):
        output.append("")
    return "/".join(output)


def _normalize_path(path: str) -> str:
    # Decode then re-encode: %7e and ~ become one spelling, %2F stays escaped.
    parts = [quote(unquote(p), safe=_PATH_SAFE.replace("/", "")) for p in path.split("/")]
    path = _remove_dot_segments("/".join(parts)) or "/"
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path


def _normalize_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host


def canonicalize_url(url: str) -> str:
    """The canonical spelling of ``url`` (http/https URLs; others returned trimmed)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = _normalize_host(parts.hostname)
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(key)
    ]
    query.sort()
    return urlunsplit(
        (scheme, netloc, _normalize_path(parts.path), urlencode(query, quote_via=quote), "")
    )


def url_key(url: str) -> str:
    """sha256 of the canonical URL: the unique key of ``DocumentURL``."""
    return hashlib.sha256(canonicalize_url(url).encode()).hexdigest()
