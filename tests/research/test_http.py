"""The safe fetch client: refuses unsafe addresses, caps size and time, paces hosts."""

from __future__ import annotations

import gzip
import socket
import threading
import time

import pytest

from portal import http
from portal.http import FetchError, UnsafeURLError, fetch


@pytest.fixture(autouse=True)
def _no_pace(settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0


def test_fetch_returns_body_content_type_and_sends_user_agent(local_server, settings):
    seen = {}

    def page(handler):
        seen["ua"] = handler.headers.get("User-Agent")
        return 200, {"Content-Type": "text/html; charset=utf-8"}, "<p>hello</p>"

    local_server.routes["/page"] = page
    result = fetch(local_server.url("/page"))
    assert result.status == 200
    assert result.content == b"<p>hello</p>"
    assert result.content_type == "text/html"
    assert seen["ua"] == settings.FETCH_USER_AGENT


def test_loopback_refused_when_setting_off(local_server, settings):
    (local_server.directory / "a.txt").write_text("secret")
    settings.FETCH_ALLOW_LOOPBACK = False
    with pytest.raises(UnsafeURLError, match="loopback") as info:
        fetch(local_server.url("/a.txt"))
    assert info.value.retryable is False


def test_localhost_name_refused_after_dns_resolution(settings):
    settings.FETCH_ALLOW_LOOPBACK = False
    with pytest.raises(UnsafeURLError, match="loopback"):
        fetch("http://localhost:9/")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fc00::1]/", "private"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "reserved"),
    ],
)
def test_private_and_special_addresses_refused(url, reason, settings):
    settings.FETCH_ALLOW_LOOPBACK = False
    with pytest.raises(UnsafeURLError, match=reason):
        fetch(url)


def test_allow_loopback_does_not_open_private_ranges(settings):
    settings.FETCH_ALLOW_LOOPBACK = True
    with pytest.raises(UnsafeURLError, match="private"):
        fetch("http://10.0.0.1/")


def test_host_name_resolving_to_private_address_refused(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", port))]

    monkeypatch.setattr(http.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeURLError, match=r"private address \(10\.9\.8\.7\)"):
        fetch("http://intranet.example/")


@pytest.mark.parametrize("url", ["ftp://example.org/a.pdf", "file:///etc/passwd", "gopher://x/"])
def test_non_http_schemes_refused(url):
    with pytest.raises(UnsafeURLError, match="Only http and https"):
        fetch(url)


def test_connection_pinned_to_checked_address_with_original_host_header(local_server, monkeypatch):
    """The client connects to the address it checked and still says which host it wants."""
    port = local_server.httpd.server_address[1]
    calls = []

    def fake_getaddrinfo(host, p, *args, **kwargs):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p))]

    seen = {}

    def page(handler):
        seen["host"] = handler.headers.get("Host")
        return 200, {"Content-Type": "text/plain"}, "ok"

    local_server.routes["/p"] = page
    monkeypatch.setattr(http.socket, "getaddrinfo", fake_getaddrinfo)
    result = fetch(f"http://news.example.test:{port}/p")
    assert result.content == b"ok"
    assert seen["host"] == f"news.example.test:{port}"
    # The name is resolved once, by the checker; the connection uses the address.
    assert [host for host in calls if host != "127.0.0.1"] == ["news.example.test"]


def test_redirect_followed_and_final_url_reported(local_server):
    local_server.routes["/old"] = (301, {"Location": "/new"}, "")
    local_server.routes["/new"] = (200, {"Content-Type": "text/plain"}, "moved here")
    result = fetch(local_server.url("/old"))
    assert result.content == b"moved here"
    assert result.final_url == local_server.url("/new")
    assert result.url == local_server.url("/old")


def test_redirect_to_private_address_refused(local_server):
    local_server.routes["/go"] = (302, {"Location": "http://10.0.0.5/admin"}, "")
    with pytest.raises(UnsafeURLError, match="private"):
        fetch(local_server.url("/go"))


def test_redirect_to_other_scheme_refused(local_server):
    local_server.routes["/go"] = (302, {"Location": "file:///etc/passwd"}, "")
    with pytest.raises(UnsafeURLError, match="Only http and https"):
        fetch(local_server.url("/go"))


def test_redirect_loop_detected(local_server):
    local_server.routes["/a"] = (302, {"Location": "/b"}, "")
    local_server.routes["/b"] = (302, {"Location": "/a"}, "")
    with pytest.raises(FetchError, match="loop") as info:
        fetch(local_server.url("/a"))
    assert info.value.code == "redirect_loop"
    assert info.value.retryable is False


def test_redirect_chain_capped(local_server):
    for i in range(10):
        local_server.routes[f"/r{i}"] = (302, {"Location": f"/r{i + 1}"}, "")
    with pytest.raises(FetchError, match="more than 3 times"):
        fetch(local_server.url("/r0"), max_redirects=3)


def test_oversize_refused_by_content_length(local_server):
    (local_server.directory / "big.bin").write_bytes(b"x" * 5000)
    with pytest.raises(FetchError, match="larger than") as info:
        fetch(local_server.url("/big.bin"), max_bytes=1000)
    assert info.value.code == "too_large"
    assert info.value.retryable is False


def test_oversize_refused_while_streaming_without_content_length(settings):
    """A body with no declared length is cut off as soon as it passes the cap."""
    settings.FETCH_ALLOW_LOOPBACK = True
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
            )
            try:
                for _ in range(100):
                    conn.sendall(b"y" * 1000)
            except OSError:
                pass  # the client hung up at the cap, as it should

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(FetchError, match="larger than") as info:
            fetch(f"http://127.0.0.1:{port}/stream", max_bytes=10_000)
        assert info.value.code == "too_large"
    finally:
        thread.join(timeout=5)
        server.close()


def test_gzip_bomb_stopped_at_decoded_size(local_server):
    bomb = gzip.compress(b"\0" * 2_000_000)
    local_server.routes["/bomb"] = (
        200,
        {"Content-Type": "text/html", "Content-Encoding": "gzip"},
        bomb,
    )
    assert len(bomb) < 10_000
    with pytest.raises(FetchError, match="larger than"):
        fetch(local_server.url("/bomb"), max_bytes=100_000)


@pytest.mark.parametrize(
    ("status", "retryable", "code"),
    [
        (404, False, "not_found"),
        (410, False, "gone"),
        (403, False, "http_error"),
        (429, True, "rate_limited"),
        (500, True, "server_error"),
        (503, True, "server_error"),
    ],
)
def test_http_errors_classified(local_server, status, retryable, code):
    local_server.routes["/x"] = (status, {"Content-Type": "text/plain"}, "no")
    with pytest.raises(FetchError) as info:
        fetch(local_server.url("/x"))
    assert info.value.retryable is retryable
    assert info.value.code == code
    assert info.value.status == status
    assert info.value.message.endswith(".")


def test_timeout_is_retryable(local_server):
    def slow(handler):
        time.sleep(1.5)
        return 200, {}, "late"

    local_server.routes["/slow"] = slow
    with pytest.raises(FetchError, match="in time|too long") as info:
        fetch(local_server.url("/slow"), timeout=0.5)
    assert info.value.retryable is True


def test_connection_refused_is_retryable(settings):
    settings.FETCH_ALLOW_LOOPBACK = True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="Could not connect") as info:
        fetch(f"http://127.0.0.1:{port}/")
    assert info.value.retryable is True


def test_conditional_request_returns_not_modified(local_server):
    def cond(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"'}, ""
        return 200, {"ETag": '"v1"', "Content-Type": "application/rss+xml"}, "<rss/>"

    local_server.routes["/feed"] = cond
    first = fetch(local_server.url("/feed"))
    assert first.status == 200 and first.etag == '"v1"'
    second = fetch(local_server.url("/feed"), etag=first.etag)
    assert second.not_modified
    assert second.content == b""


def test_if_modified_since_sent(local_server):
    seen = {}

    def cond(handler):
        seen["ims"] = handler.headers.get("If-Modified-Since")
        return 304, {}, ""

    local_server.routes["/f"] = cond
    result = fetch(local_server.url("/f"), last_modified="Wed, 21 Oct 2015 07:28:00 GMT")
    assert result.not_modified
    assert seen["ims"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_requests_to_one_host_are_paced_across_threads(local_server, settings):
    settings.FETCH_HOST_INTERVAL_SECONDS = 0.3
    local_server.routes["/t"] = (200, {"Content-Type": "text/plain"}, "t")
    times: list[float] = []
    lock = threading.Lock()

    def get():
        fetch(local_server.url("/t"))
        with lock:
            times.append(time.monotonic())

    start = time.monotonic()
    threads = [threading.Thread(target=get) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(times) == 3
    # Three requests at 0.3 s spacing: the last cannot finish before 0.6 s.
    assert max(times) - start >= 0.59


@pytest.fixture
def tls_server(tmp_path, settings):
    """An HTTPS server on loopback with a certificate for news.example.test only."""
    import http.server as http_server  # the stdlib's, not portal.http
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=news.example.test"]
        + ["-addext", "subjectAltName=DNS:news.example.test"],
        check=True,
        capture_output=True,
    )
    seen: dict = {}

    class Handler(http_server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen["host"] = self.headers.get("Host")
            body = b"secure hello"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(sock, server_name, ctx):
        seen["sni"] = server_name

    context.sni_callback = remember_sni
    httpd = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    settings.FETCH_ALLOW_LOOPBACK = True
    yield httpd.server_address[1], cert, seen
    httpd.shutdown()
    httpd.server_close()


def _trust(monkeypatch, cert):
    import ssl

    import httpx

    context = ssl.create_default_context(cafile=str(cert))
    real_client = httpx.Client
    monkeypatch.setattr(
        http.httpx, "Client", lambda **kwargs: real_client(verify=context, **kwargs)
    )


def _resolve_to_loopback(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(http.socket, "getaddrinfo", fake_getaddrinfo)


def test_https_connection_pinned_to_checked_address_verifies_the_host_name(tls_server, monkeypatch):
    """Connecting to the checked IP still sends SNI and checks the certificate for the name."""
    port, cert, seen = tls_server
    _trust(monkeypatch, cert)
    _resolve_to_loopback(monkeypatch)
    result = fetch(f"https://news.example.test:{port}/story")
    assert result.content == b"secure hello"
    assert seen["sni"] == "news.example.test"
    assert seen["host"] == f"news.example.test:{port}"


def test_https_certificate_for_another_name_is_refused(tls_server, monkeypatch):
    port, cert, _seen = tls_server
    _trust(monkeypatch, cert)
    _resolve_to_loopback(monkeypatch)
    with pytest.raises(FetchError, match="Could not connect"):
        fetch(f"https://impostor.example.test:{port}/story")
