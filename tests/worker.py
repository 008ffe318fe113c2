"""A reader process for tests/test_multiprocess.py: ``python -m tests.worker CONFIG_JSON``.

It loads the test settings, then replaces what must be the same as in the test process: the
cache (Redis, with the test process's ``KEY_PREFIX``, so both share waffle's keys), the database
name (the *test* database) and ``FLAGSCHEMA_FLAG_TTL``. Then it reads
``Customer.objects.get(pk=...).full_name`` every ``interval`` seconds and writes one JSON line to
stdout on its first read and whenever the value read changes::

    {"event": "read", "t": <time.monotonic()>, "value": "...", "reads": <reads so far>}

It counts the reads of a value that is in neither column (``expected`` lists the two). It
stops when its stdin is closed (the test closes it), or after ``lifetime`` seconds so that a
worker whose test died does not outlive it, and then writes
``{"event": "done", "t": ..., "reads": ..., "unexpected": <reads of neither value>}``.
``time.monotonic()`` is one system-wide clock on Linux, macOS and Windows, so the test can
compare these times with its own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any


def _emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _setup(config: dict[str, Any]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    # Settings are loaded here, before django.setup(): nothing has used the cache or the
    # database yet, so these replacements are what every connection and cache will see.
    settings.CACHES = config["caches"]
    settings.DATABASES["default"]["NAME"] = config["database_name"]
    settings.FLAGSCHEMA_FLAG_TTL = config["ttl"]
    django.setup()


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    _setup(config)

    from tests.apps.rename.models import Customer

    stop = threading.Event()

    def wait_for_stdin_eof() -> None:
        for _ in sys.stdin:
            pass
        stop.set()

    threading.Thread(target=wait_for_stdin_eof, daemon=True).start()

    pk, interval = config["pk"], config["interval"]
    deadline = time.monotonic() + config["lifetime"]
    expected = set(config["expected"])
    previous: object = object()
    reads = unexpected = 0
    while not stop.is_set() and time.monotonic() < deadline:
        value = Customer.objects.get(pk=pk).full_name
        now = time.monotonic()
        reads += 1
        if value not in expected:
            unexpected += 1
        if value != previous:
            _emit(event="read", t=now, value=value, reads=reads)
            previous = value
        stop.wait(interval)
    _emit(event="done", t=time.monotonic(), reads=reads, unexpected=unexpected)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
