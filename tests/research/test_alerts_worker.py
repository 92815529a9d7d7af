"""Alerts are delivered exactly once by real workers, even when one is killed mid-delivery.

A Redis of the test's own and real worker processes on the PostgreSQL test
database, as in tests/portal/test_work.py.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import http.server
import socketserver
import threading
import time
from pathlib import Path

import pytest

from portal.models import WorkItem
from research.models import AlertDigest, Delivery, WebhookCall
from research.services import alerts
from research.services.review import document_publish
from research.tasks import alert_digests_task
from tests.conftest import start_celery_worker, stop_process
from tests.research.factories import DocumentFactory, ResearcherFactory

pytestmark = [pytest.mark.celery_worker, pytest.mark.redis, pytest.mark.postgres]

# The promise: done within this long after a worker is available again.
RECOVERY_SECONDS = 120


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


class GatedReceiver:
    """A webhook endpoint that holds its first POST until released: a kill lands mid-call."""

    def __init__(self):
        self.deliveries: list[str] = []
        self.answered = 0
        self.arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.deliveries.append(self.headers.get("X-Portal-Delivery"))
                if len(receiver.deliveries) == 1:
                    receiver.arrived.set()
                    receiver.release.wait(60)
                self.send_response(204)
                self.end_headers()
                receiver.answered += 1

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class GatedSMTPSink:
    """A loopback SMTP server that holds its answer to the first DATA: a kill lands mid-send.

    A message counts as delivered once its text has ended and been answered
    ``250``, as an SMTP server takes responsibility for it only then (RFC 5321, 6.1).
    """

    def __init__(self):
        self.delivered: list[email.message.EmailMessage] = []
        self.data_commands = 0
        self.arrived = threading.Event()
        self.release = threading.Event()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def answer(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self):
                # The client died: nothing was delivered on this connection.
                with contextlib.suppress(OSError):
                    self.converse()

            def converse(self):
                self.answer("220 sink ESMTP")
                while line := self.rfile.readline():
                    command = line.decode().strip().upper()
                    if command == "DATA":
                        sink.data_commands += 1
                        if sink.data_commands == 1:
                            sink.arrived.set()
                            sink.release.wait(60)
                        self.answer("354 End data with <CR><LF>.<CR><LF>")
                        text = []
                        while (row := self.rfile.readline()) not in (b".\r\n", b".\n"):
                            if not row:
                                return  # cut before the end of the text: not delivered
                            text.append(row[1:] if row.startswith(b"..") else row)
                        self.answer("250 Queued")
                        sink.delivered.append(
                            email.message_from_bytes(b"".join(text), policy=email.policy.default)
                        )
                    elif command.startswith("QUIT"):
                        self.answer("221 Bye")
                        return
                    else:  # EHLO, MAIL FROM, RCPT TO, RSET, NOOP
                        self.answer("250 OK")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def workers(transactional_db, settings, redis_server, broker_at, tmp_path):
    broker_at(redis_server.url)
    settings.FETCH_ALLOW_LOOPBACK = True  # the test's own endpoint, in this process and the workers
    started = []

    def start():
        proc = start_celery_worker(
            redis_url=redis_server.url,
            media_root=Path(settings.MEDIA_ROOT),
            log_path=tmp_path / "workers.log",
            loopback=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_process(proc)
        proc.log.close()


def worker_log(tmp_path) -> str:
    return (tmp_path / "workers.log").read_text()[-4000:]


def test_a_webhook_call_cut_by_a_killed_worker_is_made_once_by_the_next(workers, tmp_path):
    receiver = GatedReceiver()
    try:
        researcher = ResearcherFactory(email="reader@example.org")
        alerts.webhook_create(user=researcher, url=receiver.url)
        alerts.saved_search_create(user=researcher, name="Jails", search="jail", rate="daily")
        document = DocumentFactory(status="needs_review", title="County jail joins 287(g)")
        first = workers()
        document_publish(document=document)  # commits: matching, then the call, in the worker
        assert receiver.arrived.wait(60), worker_log(tmp_path)
        stop_process(first, kill=True)
        receiver.release.set()
        call = WebhookCall.objects.get()
        assert call.state == WebhookCall.State.PENDING  # the kill undid the attempt

        workers()
        assert wait_for(
            lambda: WebhookCall.objects.get().state == WebhookCall.State.SENT, RECOVERY_SECONDS
        ), worker_log(tmp_path)
        time.sleep(3)  # a duplicate, if any, would arrive now
        call.refresh_from_db()
        # The cut call and the one that was answered, with the same id: no third, none skipped.
        assert receiver.deliveries == [str(call.pk), str(call.pk)]
        assert call.attempts == 1
        assert call.delivery.item.key == f"document:{document.pk}"
        assert set(WorkItem.objects.values_list("state", flat=True)) == {WorkItem.State.DONE}
    finally:
        receiver.close()


def test_an_email_digest_cut_by_a_killed_worker_is_sent_once_by_the_next(
    workers, tmp_path, monkeypatch
):
    sink = GatedSMTPSink()
    # The workers (not this process) send through SMTP to the sink.
    monkeypatch.setenv("TEST_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    monkeypatch.setenv("EMAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_PORT", str(sink.port))
    try:
        researcher = ResearcherFactory(email="reader@example.org")
        alerts.saved_search_create(user=researcher, name="Jails", search="jail", rate="daily")
        document = DocumentFactory(status="needs_review", title="County jail joins 287(g)")
        first = workers()
        document_publish(document=document)  # commits: the matching, in the worker
        assert wait_for(lambda: Delivery.objects.filter(user=researcher).exists(), 60), worker_log(
            tmp_path
        )
        assert alert_digests_task("daily") == 1  # as beat would: the sending goes to a worker
        assert sink.arrived.wait(60), worker_log(tmp_path)
        stop_process(first, kill=True)  # while the sink holds its answer to DATA
        sink.release.set()
        digest = AlertDigest.objects.get()
        assert digest.sent_at is None  # the kill undid the send
        assert sink.delivered == []

        workers()
        assert wait_for(lambda: AlertDigest.objects.get().sent_at is not None, RECOVERY_SECONDS), (
            worker_log(tmp_path)
        )
        time.sleep(3)  # a duplicate, if any, would arrive now
        assert sink.data_commands == 2  # the cut send and the one that went through
        assert len(sink.delivered) == 1, [m["Message-ID"] for m in sink.delivered]
        message = sink.delivered[0]
        assert message["To"] == "reader@example.org"
        assert message["Message-ID"].startswith(f"<alert-digest-{digest.pk}@")
        assert "County jail joins 287(g)" in message.get_body().get_content()
        assert AlertDigest.objects.count() == 1
        assert set(WorkItem.objects.values_list("state", flat=True)) == {WorkItem.State.DONE}
    finally:
        sink.close()
