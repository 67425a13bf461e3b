from __future__ import annotations


def drain_queued_tasks() -> list[tuple[str, list]]:
    """Take every message waiting on this test process's queue: (task, args)."""
    from django.conf import settings

    from portal.celery import app

    found = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE)
        while True:
            try:
                message = queue.get(block=True, timeout=1)
            except queue.Empty:
                break
            found.append((message.headers["task"], message.payload[0]))
            message.ack()
        queue.close()
    return found
