"""Prometheus metrics (prometheus_client): what /metrics (portal.web.health) serves.

Counted as things happen, in each process:

- portal_http_request_duration_seconds{endpoint,method}: the latency of every request;
- portal_http_requests_total{endpoint,method,status} (a method outside the usual seven
  is "other", and a request that matched no route is endpoint "none");
- portal_jobs_run_total{job,outcome} and portal_job_duration_seconds{job};
- portal_sms_total{outcome} and portal_push_total{outcome}: the attempts the SMS and push
  code report in their log events (sms.sent / sms.failed / sms.retry, push.sent /
  push.failed / push.removed / push.refused / push.retry), counted by a log handler so
  the sending code needs no metrics code of its own.

Read from the database and the queue when scraped, so every host and process agrees:

- portal_payments{state}: payments by state;
- portal_sms_messages{state}: the SMS outbox by state (pending, sent, delivered, failed);
- portal_jobs_queued{state}: the job queue's depth (RQ: queued, scheduled, started,
  failed; in-process: the answering process's own queue).

Several processes (gunicorn workers, `portal worker`): prometheus_client's multiprocess
mode. Each process writes its counts into files under PROMETHEUS_MULTIPROC_DIR (set
before the process starts, emptied when the service starts: systemd's RuntimeDirectory
in deploy/systemd/); /metrics adds up the files of every directory in
PORTAL_METRICS_DIRS (default: PROMETHEUS_MULTIPROC_DIR), e.g. the web service's and the
worker's. Without PROMETHEUS_MULTIPROC_DIR a process serves its own counts.
"""

from __future__ import annotations

import functools
import glob
import ipaddress
import logging
import os
import time
from collections.abc import Iterable

import sqlalchemy as sa
from flask import Flask, Response, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger("portal.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUEST_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REQUESTS = Counter(
    "portal_http_requests",
    "Requests answered, by endpoint and status.",
    ["endpoint", "method", "status"],
)
JOBS_RUN = Counter(
    "portal_jobs_run", "Jobs run, by job and outcome (ok, failed).", ["job", "outcome"]
)
JOB_DURATION = Histogram(
    "portal_job_duration_seconds",
    "Time a job took, by job.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
SMS = Counter("portal_sms", "SMS attempts, by outcome (sent, failed, retry).", ["outcome"])
PUSH = Counter(
    "portal_push", "Push attempts, by outcome (sent, failed, removed, refused, retry).", ["outcome"]
)

# The log events that count, and where: event name -> (counter, outcome).
COUNTED_EVENTS = {
    "sms.sent": (SMS, "sent"),
    "sms.failed": (SMS, "failed"),
    "sms.retry": (SMS, "retry"),
    "push.sent": (PUSH, "sent"),
    "push.failed": (PUSH, "failed"),
    "push.removed": (PUSH, "removed"),
    "push.refused": (PUSH, "refused"),
    "push.retry": (PUSH, "retry"),
}


def event_name(record: logging.LogRecord) -> str:
    """A record's event: `event` from portal.logs.event, else the message's first word
    (the push code logs "push.failed subscription=%s ...")."""
    name = getattr(record, "event", None)
    if name:
        return str(name)
    message = record.msg if isinstance(record.msg, str) else ""
    return message.split(" ", 1)[0]


class EventCounter(logging.Handler):
    """Count the log events of COUNTED_EVENTS (on the "portal" logger, every level)."""

    def emit(self, record: logging.LogRecord) -> None:
        counted = COUNTED_EVENTS.get(event_name(record))
        if counted is not None:
            counter, outcome = counted
            counter.labels(outcome).inc()


def observe_job(job: str, outcome: str, seconds: float) -> None:
    JOBS_RUN.labels(job, outcome).inc()
    JOB_DURATION.labels(job).observe(seconds)


# --- what is read when scraped ------------------------------------------------------------


class ScrapeCollector(Collector):
    """Payments and SMS by state (from the database) and the queue's depth, at scrape time.

    A part that cannot be read (the database or Redis down) is left out, and
    portal_scrape_ok{part} says so."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterable[Metric]:
        ok = GaugeMetricFamily(
            "portal_scrape_ok", "1 when the part could be read.", labels=["part"]
        )
        for part, read in (
            ("payments", self._payments),
            ("sms", self._sms),
            ("jobs", self._jobs),
        ):
            try:
                metric = read()
            except Exception as error:
                log.warning("metrics.scrape_failed part=%s error=%s", part, type(error).__name__)
                ok.add_metric([part], 0)
                continue
            ok.add_metric([part], 1)
            yield metric
        yield ok

    def _rows_by_state(self, model) -> Metric:
        """portal_payments / portal_sms_messages: the table's rows by status, every
        status listed (at 0 when there is none)."""
        from portal.extensions import db

        name, text = _BY_STATE[model.__tablename__]
        session = db.new_session()
        try:
            rows = session.execute(
                sa.select(model.status, sa.func.count()).group_by(model.status)
            ).all()
        finally:
            session.close()
        counts = {str(getattr(status, "value", status)): int(count) for status, count in rows}
        every = [s.value for s in model.status.type.enum_class]
        return _gauge(name, text, "state", counts, every)

    def _payments(self) -> Metric:
        from portal.models import Payment

        return self._rows_by_state(Payment)

    def _sms(self) -> Metric:
        from portal.models import SmsMessage

        return self._rows_by_state(SmsMessage)

    def _jobs(self) -> Metric:
        from portal import jobs

        depth = jobs.queue_depth(self.app)
        return _gauge(
            "portal_jobs_queued", "Jobs waiting in the queue, by state.", "state", depth, []
        )


_BY_STATE = {
    "payments": ("portal_payments", "Payments by state."),
    "sms_messages": ("portal_sms_messages", "SMS messages in the outbox by state."),
}


def _gauge(name: str, text: str, label: str, values: dict[str, int], every: list[str]) -> Metric:
    """A gauge with one series per state, the states with none at 0."""
    metric = GaugeMetricFamily(name, text, labels=[label])
    for state in dict.fromkeys([*every, *values]):
        metric.add_metric([state], values.get(state, 0))
    return metric


class FilesCollector(Collector):
    """The counts every process wrote into the multiprocess directories, added up."""

    def __init__(self, directories: list[str]):
        self.directories = directories

    def collect(self) -> Iterable[Metric]:
        files = sorted(f for d in self.directories for f in glob.glob(os.path.join(d, "*.db")))
        return MultiProcessCollector.merge(files, accumulate=True)


def metrics_dirs(config) -> list[str]:
    dirs = config.get("PORTAL_METRICS_DIRS") or os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ""
    return [d for d in str(dirs).split(os.pathsep) if d.strip()]


def exposition(app: Flask) -> bytes:
    """The text /metrics answers with."""
    dirs = metrics_dirs(app.config)
    if dirs:
        counted = CollectorRegistry(auto_describe=False)
        counted.register(FilesCollector(dirs))
    else:
        counted = REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(ScrapeCollector(app))
    return generate_latest(counted) + generate_latest(scraped)


# --- who may read them ----------------------------------------------------------------


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """PORTAL_METRICS_ALLOW: addresses or networks, comma-separated."""
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in text.split(",")
            if part.strip()
        )
    except ValueError as error:
        raise RuntimeError(f"PORTAL_METRICS_ALLOW: {error}") from None


def may_read(remote_addr: str | None, networks, *, forwarded: bool, trusted_proxies: int) -> bool:
    """Only the allowed addresses read /metrics. A request that came through a proxy the
    app does not trust (X-Forwarded-For with PORTAL_TRUSTED_PROXIES=0) is refused: its
    address is the proxy's, whoever sent it."""
    if forwarded and not trusted_proxies:
        return False
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def allowed_here() -> bool:
    from flask import current_app

    config = current_app.config
    return may_read(
        request.remote_addr,
        current_app.extensions["portal_metrics_allow"],
        forwarded="X-Forwarded-For" in request.headers,
        trusted_proxies=config["PORTAL_TRUSTED_PROXIES"],
    )


# --- wiring ---------------------------------------------------------------------------


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


# The methods counted by name; any other a client makes up is counted as "other", so it
# cannot add series (and memory in every process) at will.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@functools.cache
def _request_series(endpoint: str, method: str, status: int):
    """The latency and count series of one endpoint, method and status. `labels` checks
    and locks at every call; the series it returns stay the same for the process, so
    each is looked up once (as many as prometheus_client keeps itself)."""
    return REQUEST_LATENCY.labels(endpoint, method), REQUESTS.labels(endpoint, method, str(status))


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        seconds = time.perf_counter() - started
        method = request.method if request.method in _METHODS else "other"
        endpoint = request.endpoint or "none"  # a 404 names no endpoint
        latency, count = _request_series(endpoint, method, response.status_code)
        latency.observe(seconds)
        count.inc()
    return response


def init_app(app: Flask) -> None:
    app.extensions["portal_metrics_allow"] = parse_networks(app.config["PORTAL_METRICS_ALLOW"])
    logger = logging.getLogger("portal")
    if not any(isinstance(h, EventCounter) for h in logger.handlers):
        logger.addHandler(EventCounter())
    if app.config["PORTAL_METRICS"]:
        app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
        app.after_request(_observe)
