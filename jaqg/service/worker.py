"""One thread owns the models: every request becomes a job on a bounded queue, and the thread runs them one batch at
a time, so no two requests touch a model at once (torch modules are not safe to share across threads mid-call).

Jobs of a batchable kind with the same key (e.g. /v1/generate with the same beams and bad words) that wait
together are run as ONE call of their handler, so several clients share a ``generate`` batch. A batch that fails
is retried job by job, so one bad input fails only its own request. ``submit`` raises ``Busy`` when
``max_pending`` jobs are already waiting or running: the caller answers 503 with Retry-After.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

log = logging.getLogger(__name__)

# kind -> handler(key, payloads) -> one result per payload, in order
Handler = Callable[[Hashable, Sequence[Any]], Sequence[Any]]


class Busy(Exception):
    """The queue is full; ``retry_after`` seconds is a fair wait."""

    def __init__(self, retry_after: int):
        super().__init__(f"the service is busy; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass
class Job:
    kind: str
    key: Hashable
    payload: Any
    future: Future = field(default_factory=Future)


class BatchWorker:
    """A bounded job queue served by one thread; ``batchable`` kinds are merged up to ``max_batch`` payloads."""

    def __init__(self, handlers: dict[str, Handler], *, batchable: Sequence[str] = (), max_pending: int = 32,
                 max_batch: int = 32):
        self.handlers, self.batchable = handlers, set(batchable)
        self.max_pending, self.max_batch = max_pending, max_batch
        self._jobs: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._outstanding = 0  # waiting + running
        self._closed = False
        self._seconds = 0.0  # an exponential average of a batch's run time, for Retry-After
        self.batches = 0
        self.jobs_done = 0
        self._thread = threading.Thread(target=self._loop, name="jaqg-model-worker", daemon=True)
        self._thread.start()

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def counts(self) -> dict[str, int]:
        """outstanding (waiting + running), max_pending, batches and jobs_done, read together under the lock."""
        with self._cond:
            return {"outstanding": self._outstanding, "max_pending": self.max_pending, "batches": self.batches,
                    "jobs_done": self.jobs_done}

    def submit(self, kind: str, key: Hashable, payload: Any) -> Future:
        """Queue a job; its future holds the handler's result (or its exception). Busy when the queue is full."""
        with self._cond:
            if self._closed:
                raise Busy(5)
            if self._outstanding >= self.max_pending:
                raise Busy(max(1, math.ceil(self._seconds * self._outstanding)))
            job = Job(kind, key, payload)
            self._outstanding += 1
            self._jobs.append(job)
            self._cond.notify()
        return job.future

    def close(self, timeout: float = 30.0) -> None:
        """Finish the jobs already queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def _take_batch(self) -> list[Job] | None:
        with self._cond:
            while not self._jobs and not self._closed:
                self._cond.wait()
            if not self._jobs:
                return None
            first = self._jobs.popleft()
            batch = [first]
            if first.kind in self.batchable:
                rest = collections.deque()
                while self._jobs:
                    job = self._jobs.popleft()
                    same = job.kind == first.kind and job.key == first.key and len(batch) < self.max_batch
                    (batch if same else rest).append(job)
                self._jobs = rest
            return batch

    def _loop(self) -> None:
        while (batch := self._take_batch()) is not None:
            start = time.perf_counter()
            self._run(batch)
            took = time.perf_counter() - start
            self._seconds = took if not self.batches else 0.8 * self._seconds + 0.2 * took
            with self._cond:
                self.batches += 1
                self._outstanding -= len(batch)
                self.jobs_done += len(batch)

    def _run(self, batch: list[Job]) -> None:
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        handler = self.handlers[live[0].kind]
        try:
            results = handler(live[0].key, [job.payload for job in live])
        except BaseException as e:  # noqa: BLE001 - a failed call fails its requests, never the thread
            if len(live) > 1:  # one bad input must not fail the others: run them one by one
                for job in live:
                    try:
                        job.future.set_result(handler(job.key, [job.payload])[0])
                    except BaseException as one:  # noqa: BLE001
                        job.future.set_exception(one)
                return
            live[0].future.set_exception(e)
            return
        for job, result in zip(live, results):
            job.future.set_result(result)
