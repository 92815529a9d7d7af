"""The one way the portal fetches from the internet.

``fetch`` refuses anything but http and https, resolves the host itself and
refuses private, loopback, link-local, reserved, multicast and unspecified
addresses (IPv4-mapped and NAT64 IPv6 included), then connects to the address it
checked, so a second DNS answer cannot send it elsewhere (DNS rebinding).
Redirects are followed by hand and every hop is checked again. The body is
streamed under a size cap and a time cap, the request carries the portal's
User-Agent, and requests to one host are paced.

Errors are ``FetchError`` with a sentence and ``retryable``: True only for what
can heal by itself (timeouts, connection errors, 5xx, 429).

"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings

from portal.units import size_text

DEFAULT_MAX_REDIRECTS = 5
DEFAULT_HOST_INTERVAL_SECONDS = 1.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """A fetch failed; ``message`` is a sentence, ``retryable`` says if trying later may help."""

    def __init__(
        self, message: str, retryable: bool = False, *, status: int | None = None, code: str = ""
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        # A short machine-readable reason: "not_found", "gone", "http_error",
        # "server_error", "rate_limited", "timeout", "connection", "dns",
        # "too_large", "redirect_loop", "too_many_redirects", "unsafe", "bad_url".
        self.code = code

    def __str__(self) -> str:
        return self.message


class UnsafeURLError(FetchError):
    """The URL, or a redirect, points at a scheme or address the portal must not reach."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False, code="unsafe")


@dataclass(frozen=True)
class FetchResult:
    url: str
    final_url: str
    status: int
    headers: Mapping[str, str] = field(repr=False)
    content: bytes = field(repr=False)
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        """True when a conditional request was answered 304 Not Modified."""
        return self.status == 304

    @property
    def charset(self) -> str:
        """The charset the server declared in Content-Type, or ""."""
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip("\"'").lower()
        return ""

    @property
    def etag(self) -> str:
        return self.headers.get("etag", "")

    @property
    def last_modified(self) -> str:
        return self.headers.get("last-modified", "")


# --- Address checks ----------------------------------------------------------


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_refusal(ip: IPAddress, *, allow_loopback: bool | None = None) -> str | None:
    """Why the portal must not connect to ``ip``, or None if it may."""
    if allow_loopback is None:
        allow_loopback = settings.FETCH_ALLOW_LOOPBACK
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return address_refusal(inner, allow_loopback=allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        temporary = exc.errno in {socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", -11)}
        raise FetchError(
            f"The host name {host} could not be resolved; check the address.",
            retryable=temporary,
            code="dns",
        ) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchError(f"The host name {host} has no address.", code="dns")
    return addresses


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    ip: IPAddress

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        ip = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        default = 443 if self.scheme == "https" else 80
        netloc = ip if self.port == default else f"{ip}:{self.port}"
        return urlunsplit((self.scheme, netloc, parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str) -> _Target:
    """Check scheme and resolved address of ``url``; raise UnsafeURLError if refused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"The address {url!r} is not a valid URL.", code="bad_url") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise UnsafeURLError(
            f"Only http and https addresses can be fetched, not {scheme or 'a bare path'}: {url}."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FetchError(f"The address {url!r} has no host name.", code="bad_url")
    if parts.username or parts.password:
        raise UnsafeURLError("Addresses with a user name or password are not fetched.")
    port = port or (443 if scheme == "https" else 80)
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise FetchError(f"The host name in {url!r} is not valid.", code="bad_url") from exc
    addresses = _resolve(host, port)
    for ip in addresses:
        reason = address_refusal(ip)
        if reason is not None:
            raise UnsafeURLError(
                f"The address {url} leads to {reason} ({ip}), which the portal does not fetch."
            )
    return _Target(url=url.strip(), scheme=scheme, host=host.lower(), port=port, ip=addresses[0])


# --- Per-host pace -------------------------------------------------------------

_pace_lock = threading.Lock()
_next_slot: dict[str, float] = {}


def _wait_for_turn(host_key: str) -> None:
    """Sleep until this host may be asked again (thread-safe, per process)."""
    interval = float(
        getattr(settings, "FETCH_HOST_INTERVAL_SECONDS", DEFAULT_HOST_INTERVAL_SECONDS)
    )
    if interval <= 0:
        return
    with _pace_lock:
        now = time.monotonic()
        slot = max(now, _next_slot.get(host_key, 0.0))
        _next_slot[host_key] = slot + interval
    if slot > now:
        time.sleep(slot - now)


# --- Fetch ---------------------------------------------------------------------


def _content_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _status_error(status: int, url: str, headers: Mapping[str, str]) -> FetchError:
    if status == 404:
        return FetchError(
            f"The server answered 404 Not Found for {url}; check the address.",
            status=status,
            code="not_found",
        )
    if status == 410:
        return FetchError(
            f"The server answered 410 Gone for {url}: the document was removed.",
            status=status,
            code="gone",
        )
    if status == 429:
        return FetchError(
            f"The server at {url} asked us to slow down (429); the fetch will be retried later.",
            retryable=True,
            status=status,
            code="rate_limited",
        )
    if status >= 500:
        return FetchError(
            f"The server answered {status} for {url}; the fetch will be retried later.",
            retryable=True,
            status=status,
            code="server_error",
        )
    return FetchError(
        f"The server refused the request for {url} with status {status}.",
        status=status,
        code="http_error",
    )


def _too_large(url: str, max_bytes: int) -> FetchError:
    return FetchError(
        f"The file at {url} is larger than the {size_text(max_bytes)} the portal accepts.",
        code="too_large",
    )


def _read_body(response: httpx.Response, url: str, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, max_bytes)
    chunks: list[bytes] = []
    total = 0
    # Decoded bytes are counted, so a gzip bomb stops at the cap too.
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(url, max_bytes)
        if time.monotonic() > deadline:
            raise FetchError(
                f"Downloading {url} took too long; the fetch will be retried later.",
                retryable=True,
                code="timeout",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def fetch(
    url: str,
    *,
    max_bytes: int | None = None,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    accept: str | None = None,
    etag: str = "",
    last_modified: str = "",
    max_redirects: int | None = None,
) -> FetchResult:
    """GET ``url`` safely and return the body; raise FetchError with a sentence.

    ``etag``/``last_modified`` make a conditional request: an unchanged
    resource comes back as a result with status 304 and no content.
    """
    max_bytes = max_bytes or settings.FETCH_MAX_BYTES
    timeout = float(timeout or settings.FETCH_TIMEOUT_SECONDS)
    if max_redirects is None:
        max_redirects = getattr(settings, "FETCH_MAX_REDIRECTS", DEFAULT_MAX_REDIRECTS)
    deadline = time.monotonic() + timeout
    request_headers = {"User-Agent": settings.FETCH_USER_AGENT, "Accept": accept or "*/*"}
    request_headers.update(headers or {})
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified

    seen: set[str] = set()
    current = url.strip()
    with httpx.Client(
        timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
    ) as client:
        for _hop in range(max_redirects + 1):
            target = check_url(current)
            seen.add(target.url)
            _wait_for_turn(f"{target.host}:{target.port}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(
                    f"Fetching {url} took too long; the fetch will be retried later.",
                    retryable=True,
                    code="timeout",
                )
            extensions: dict = {"timeout": httpx.Timeout(remaining).as_dict()}
            if target.scheme == "https":
                # Connect to the checked address but verify the certificate
                # against the real host name.
                extensions["sni_hostname"] = target.host
            request = client.build_request(
                "GET",
                target.pinned_url,
                headers={**request_headers, "Host": target.host_header},
                extensions=extensions,
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise FetchError(
                    f"The server at {current} did not answer in time; the fetch will be retried later.",
                    retryable=True,
                    code="timeout",
                ) from exc
            except httpx.TransportError as exc:
                raise FetchError(
                    f"Could not connect to {current} ({exc.__class__.__name__}); "
                    "the fetch will be retried later.",
                    retryable=True,
                    code="connection",
                ) from exc
            try:
                status = response.status_code
                if status in {301, 302, 303, 307, 308}:
                    location = response.headers.get("location", "")
                    if not location:
                        raise FetchError(
                            f"The server redirected {current} without saying where to.",
                            status=status,
                            code="http_error",
                        )
                    following = urljoin(current, location).split("#", 1)[0]
                    if following in seen:
                        raise FetchError(
                            f"The address {url} redirects in a loop; it cannot be fetched.",
                            code="redirect_loop",
                        )
                    current = following
                    continue
                if status == 304:
                    return FetchResult(
                        url=url,
                        final_url=current,
                        status=status,
                        headers=response.headers,
                        content=b"",
                        content_type=_content_type(response.headers),
                    )
                if status >= 400:
                    raise _status_error(status, current, response.headers)
                try:
                    content = _read_body(response, current, max_bytes, deadline)
                except httpx.TimeoutException as exc:
                    raise FetchError(
                        f"Downloading {current} took too long; the fetch will be retried later.",
                        retryable=True,
                        code="timeout",
                    ) from exc
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise FetchError(
                        f"The download of {current} broke off ({exc.__class__.__name__}); "
                        "the fetch will be retried later.",
                        retryable=True,
                        code="connection",
                    ) from exc
                return FetchResult(
                    url=url,
                    final_url=current,
                    status=status,
                    headers=response.headers,
                    content=content,
                    content_type=_content_type(response.headers),
                )
            finally:
                response.close()
    raise FetchError(
        f"The address {url} redirects more than {max_redirects} times; it cannot be fetched.",
        code="too_many_redirects",
    )


def post(
    url: str, *, body: bytes, headers: Mapping[str, str] | None = None, timeout: float | None = None
) -> int:
    """POST ``body`` to ``url`` past the same address checks as ``fetch``; return the status.

    Redirects are not followed (a webhook gives its final address). Raises
    FetchError with a sentence: retryable for timeouts, connection errors,
    5xx and 429.
    """
    timeout = float(timeout or settings.FETCH_TIMEOUT_SECONDS)
    target = check_url(url)
    extensions: dict = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.host
    request_headers = {"User-Agent": settings.FETCH_USER_AGENT, **(headers or {})}
    with httpx.Client(
        timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
    ) as client:
        request = client.build_request(
            "POST",
            target.pinned_url,
            content=body,
            headers={**request_headers, "Host": target.host_header},
            extensions=extensions,
        )
        try:
            response = client.send(request)
        except httpx.TimeoutException as exc:
            raise FetchError(
                f"The server at {url} did not answer within {timeout:g} s.",
                retryable=True,
                code="timeout",
            ) from exc
        except httpx.TransportError as exc:
            raise FetchError(
                f"Could not connect to {url} ({exc.__class__.__name__}).",
                retryable=True,
                code="connection",
            ) from exc
    status = response.status_code
    if 300 <= status < 400:
        raise FetchError(
            f"The server at {url} answered with a redirect ({status}); give the final address.",
            status=status,
            code="http_error",
        )
    if status >= 400:
        raise _status_error(status, url, response.headers)
    return status
