"""The job queue: the one way work leaves a web request.

A job is a function `job(db, config, *args)` named by its import path
("package.module:function") and given plain arguments; it runs later inside an app
context with a session of its own (never the request's) and the app's settings (so the
domain's jobs read no app themselves), and commits what it does itself.

Two modes, chosen by configuration:

- in-process (the default): a background thread in each process runs due jobs and,
  every PORTAL_JOBS_SWEEP_SECONDS, the sweeps (e.g. "send whatever SMS is due"), so
  work whose job was lost in a crash or restart is picked up again;
- RQ, when REDIS_URL is set: jobs go to a Redis queue and `portal worker` runs them; it
  runs the sweeps too, on start and then periodically.

Work that belongs to a transaction is enqueued with `enqueue_after_commit`, so a job
never runs before its data is committed, and never for a transaction rolled back.

A job carries the request id of the request that queued it (portal.logs), in memory or
in the RQ job's meta, and runs with it bound: its log lines name that request.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, scoped_session

from portal import clock, metrics
from portal.logs import bind_request_id, current_request_id, event, unbind_request_id

log = logging.getLogger("portal.jobs")

JobRef = str | Callable[..., Any]
_AFTER_COMMIT = "portal.jobs.after_commit"

# Jobs run periodically by every worker: each must be safe to run at any time, anywhere.
SWEEPS: list[str] = [
    "portal.domain.sms.delivery:sweep_job",
    "portal.domain.imports:sweep_job",
    "portal.domain.push.sending:sweep_job",
    "portal.domain.promos.pushing:sweep_job",
]


def enqueue(job: JobRef, *args: Any, at: datetime | None = None) -> None:
    """Run `job(db, config, *args)` soon (or at `at`) on the current app's queue."""
    _queue_of(current_app._get_current_object()).put(_ref(job), args, at, current_request_id())


def enqueue_after_commit(db: Session | scoped_session, job: JobRef, *args: Any) -> None:
    """Enqueue `job` when `db`'s transaction commits; drop it if it rolls back."""
    if not has_app_context():
        return  # no app to run it in: the next sweep will do the work
    if isinstance(db, scoped_session):
        db = db()  # events belong to the request's own session, not to the registry
    waiting = db.info.setdefault(_AFTER_COMMIT, [])
    if not waiting and not sa_event.contains(db, "after_commit", _after_commit):
        sa_event.listen(db, "after_commit", _after_commit)
        sa_event.listen(db, "after_rollback", _after_rollback)
    waiting.append((current_app._get_current_object(), _ref(job), args, current_request_id()))


def _after_commit(db: Session) -> None:
    for app, ref, args, request_id in db.info.pop(_AFTER_COMMIT, []):
        try:
            _queue_of(app).put(ref, args, None, request_id)
        except Exception:
            # Redis down: the data is committed, and the next sweep finds the work.
            log.exception("jobs.enqueue_failed job=%s", ref)


def _after_rollback(db: Session) -> None:
    db.info.pop(_AFTER_COMMIT, None)


def run_job(ref: str, *args: Any) -> None:
    """Run one job (what RQ calls): in the current app, else in the worker's app; with
    the request id the job's meta carries."""
    from rq import get_current_job

    app = current_app._get_current_object() if has_app_context() else _standalone_app()
    rq_job = get_current_job()
    request_id = rq_job.meta.get("request_id") if rq_job is not None else None
    run_job_in(app, ref, *args, request_id=request_id)


def run_job_in(app: Flask, ref: str, *args: Any, request_id: str | None = None) -> None:
    """Run one job in an app context of its own, with a session of its own, the request
    id of the request that queued it bound for its log lines, timed and counted."""
    func = _resolve(ref)
    token = bind_request_id(request_id)
    started = time.perf_counter()
    outcome = "failed"
    try:
        with app.app_context():
            from portal.extensions import db

            session = db.new_session()
            try:
                func(session, app.config, *args)
                outcome = "ok"
            except Exception:
                session.rollback()
                raise
            finally:
                session.close()
    finally:
        metrics.observe_job(ref, outcome, time.perf_counter() - started)
        unbind_request_id(token)


def run_sweeps(app: Flask) -> None:
    """Run every sweep now, in this thread; a failing sweep does not stop the others."""
    for ref in SWEEPS:
        try:
            run_job_in(app, ref)
        except Exception:
            log.exception("jobs.sweep_failed job=%s", ref)


def drain(app: Flask, *, sweep: bool = False) -> int:
    """Run the in-process jobs that are due, here and now (tests, CLI); how many ran."""
    if sweep:
        run_sweeps(app)
    return _queue_of(app).run_due()


def forget_pending(app: Flask) -> int:
    """Drop the jobs waiting in this process's in-process queue, done or not (the tests,
    after each test: a job one test queued must not run in the next); how many."""
    queue = _queue_of(app)
    return queue.clear() if isinstance(queue, InProcessQueue) else 0


# --- the queues ---------------------------------------------------------------------


@dataclass(order=True)
class _Job:
    at: datetime
    seq: int
    ref: str = field(compare=False)
    args: tuple = field(compare=False)
    request_id: str | None = field(compare=False, default=None)


class InProcessQueue:
    """Jobs in memory, run by a daemon thread of this process (when started)."""

    def __init__(self, app: Flask):
        self.app = app
        self.sweep_seconds = float(app.config["PORTAL_JOBS_SWEEP_SECONDS"])
        self._jobs: list[_Job] = []
        self._seq = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False

    def put(
        self, ref: str, args: tuple, at: datetime | None, request_id: str | None = None
    ) -> None:
        job = _Job(at or clock.now(), next(self._seq), ref, args, request_id)
        with self._wakeup:
            heapq.heappush(self._jobs, job)
            self._wakeup.notify()

    def pending(self) -> int:
        with self._wakeup:
            return len(self._jobs)

    def clear(self) -> int:
        """Forget every job waiting here; how many there were."""
        with self._wakeup:
            dropped, self._jobs = len(self._jobs), []
            return dropped

    def depth(self) -> dict[str, int]:
        """This process's jobs: due now, and waiting for a later time."""
        now = clock.now()
        with self._wakeup:
            due = sum(1 for job in self._jobs if job.at <= now)
            return {"queued": due, "scheduled": len(self._jobs) - due}

    def run_due(self) -> int:
        ran = 0
        while (job := self._pop_due()) is not None:
            self._run(job)
            ran += 1
        return ran

    def start(self) -> None:
        """Start the worker thread (again after a fork: threads do not survive one)."""
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._stopping = False
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name="portal-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _pop_due(self) -> _Job | None:
        with self._wakeup:
            if self._jobs and self._jobs[0].at <= clock.now():
                return heapq.heappop(self._jobs)
            return None

    def _run(self, job: _Job) -> None:
        try:
            run_job_in(self.app, job.ref, *job.args, request_id=job.request_id)
        except Exception:
            log.exception("jobs.failed job=%s", job.ref)

    def _loop(self) -> None:
        # Sweep at once: whatever a previous run of the process left due is picked up.
        next_sweep = 0.0
        while not self._stopping:
            if time.monotonic() >= next_sweep:
                run_sweeps(self.app)
                next_sweep = time.monotonic() + self.sweep_seconds
            self.run_due()
            with self._wakeup:
                if self._stopping:
                    return
                self._wakeup.wait(timeout=self._seconds_to_wait(next_sweep))

    def _seconds_to_wait(self, next_sweep: float) -> float:
        wait = max(next_sweep - time.monotonic(), 0.05)
        if self._jobs:
            until_next = (self._jobs[0].at - clock.now()).total_seconds()
            wait = min(wait, max(until_next, 0.05))
        # Wake up now and then anyway: the test clock may be moved by hand.
        return min(wait, 1.0)


class RedisQueue:
    """Jobs on an RQ queue in Redis; `portal worker` runs them."""

    def __init__(self, app: Flask):
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(app.config["REDIS_URL"])
        self.queue = Queue(app.config["PORTAL_JOBS_QUEUE"], connection=self.redis)

    def put(
        self, ref: str, args: tuple, at: datetime | None, request_id: str | None = None
    ) -> None:
        meta = {"request_id": request_id} if request_id else None
        if at is not None and at > clock.now():
            self.queue.enqueue_at(at, run_job, ref, *args, meta=meta)
        else:
            self.queue.enqueue(run_job, ref, *args, meta=meta)
        event(log, "jobs.enqueued", job=ref, at=at.isoformat() if at else None)

    def depth(self) -> dict[str, int]:
        """The queue in Redis: waiting, waiting for their time, running, failed."""
        queue = self.queue
        return {
            "queued": queue.count,
            "scheduled": queue.scheduled_job_registry.get_job_count(),
            "started": queue.started_job_registry.get_job_count(),
            "failed": queue.failed_job_registry.get_job_count(),
        }

    def start(self) -> None:
        """Nothing runs in the web process: `portal worker` does."""


# --- wiring -------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Create the app's queue; start the in-process thread with the first request."""
    app.extensions["portal_jobs"] = RedisQueue(app) if app.config["REDIS_URL"] else None
    if app.extensions["portal_jobs"] is None:
        app.extensions["portal_jobs"] = InProcessQueue(app)
    if app.config["PORTAL_JOBS_BACKGROUND"]:
        app.before_request(lambda: start(app))


def start(app: Flask) -> None:
    """Start the background worker of this process (in-process mode); idempotent."""
    if app.config["PORTAL_JOBS_BACKGROUND"]:
        _queue_of(app).start()


def queue_depth(app: Flask) -> dict[str, int]:
    """How many jobs wait, by state (portal.metrics)."""
    return _queue_of(app).depth()


def is_redis(app: Flask) -> bool:
    return isinstance(_queue_of(app), RedisQueue)


def redis_queue(app: Flask):
    """The RQ queue (for `portal worker`)."""
    queue = _queue_of(app)
    assert isinstance(queue, RedisQueue), "REDIS_URL is not set"
    return queue.queue


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """`portal worker`: run the RQ jobs, with the scheduler (delayed retries) and the sweeps.

    The sweeps are enqueued at once, so messages left pending by a crash or by a lost
    job are picked up on start, and then every PORTAL_JOBS_SWEEP_SECONDS.
    """
    from rq import SimpleWorker

    set_standalone_app(app)
    queue = redis_queue(app)
    enqueue_sweeps(app)
    stop = threading.Event()
    if not burst:
        threading.Thread(
            target=_enqueue_sweeps_every, args=(app, stop), name="portal-sweeps", daemon=True
        ).start()
    # SimpleWorker runs jobs in this process rather than a fork per job: a forked child
    # would inherit the database pool's connections, and our jobs are short.
    worker = SimpleWorker([queue], connection=queue.connection)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()


def enqueue_sweeps(app: Flask) -> None:
    queue = _queue_of(app)
    for ref in SWEEPS:
        queue.put(ref, (), None)


def _enqueue_sweeps_every(app: Flask, stop: threading.Event) -> None:
    seconds = float(app.config["PORTAL_JOBS_SWEEP_SECONDS"])
    while not stop.wait(seconds):
        try:
            enqueue_sweeps(app)
        except Exception:
            log.exception("jobs.sweep_enqueue_failed")


def _queue_of(app: Flask) -> InProcessQueue | RedisQueue:
    return app.extensions["portal_jobs"]


_standalone: Flask | None = None


def set_standalone_app(app: Flask | None) -> None:
    """The app that jobs run in when RQ calls run_job outside any app context."""
    global _standalone
    _standalone = app


def _standalone_app() -> Flask:
    global _standalone
    if _standalone is None:
        from portal import create_app

        _standalone = create_app()
    return _standalone


def _ref(job: JobRef) -> str:
    if isinstance(job, str):
        return job
    return f"{job.__module__}:{job.__qualname__}"


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
