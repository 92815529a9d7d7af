"""Alerts are delivered exactly once by real workers, even when one is killed mid-delivery.

A Redis of the test's own and real worker processes on the PostgreSQL test
database, as in tests/portal/test_work.py.
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from portal.models import WorkItem
from research.models import WebhookCall
from research.services import alerts
from research.services.review import document_publish
from tests.conftest import stop_process, wait_for, worker_log
from tests.research.factories import DocumentFactory, ResearcherFactory

pytestmark = [pytest.mark.celery_worker, pytest.mark.redis, pytest.mark.postgres]

# The promise: done within this long after a worker is available again.
RECOVERY_SECONDS = 120


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


def test_a_webhook_call_cut_by_a_killed_worker_is_made_once_by_the_next(
    settings, workers, tmp_path
):
    settings.FETCH_ALLOW_LOOPBACK = True  # the test's own endpoint, in this process and the workers
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
