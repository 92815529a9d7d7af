"""Celery runs tasks in-process without a broker, and in a real worker with Redis."""

import pytest

from portal.tasks import heartbeat_task


def test_without_broker_tasks_run_in_process():
    result = heartbeat_task.delay("hello")
    assert result.get(timeout=5)["payload"] == "hello"


def test_celery_configuration_is_safe_for_lost_workers():
    from portal.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_serializer == "json"
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit
    assert "portal-heartbeat" in app.conf.beat_schedule


@pytest.mark.celery_worker
@pytest.mark.redis
def test_real_worker_runs_a_task_to_completion(celery_worker):
    result = heartbeat_task.apply_async(args=["from-the-test"])
    assert result.get(timeout=60)["payload"] == "from-the-test"
    celery_worker.worker_log.seek(0)
    assert "portal.tasks.heartbeat_task" in celery_worker.worker_log.read()
