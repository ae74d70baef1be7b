"""Structured log events, one JSON object per line, each with its request id.

`event(log, "sms.sent", message_id=7)` writes `sms.sent message_id=7` and hands the
fields to handlers as `record.event` / `record.fields`, so the JSON formatter below
writes them as they are.

The request id: taken from the X-Request-ID of a trusted proxy (PORTAL_TRUSTED_PROXIES;
nginx sets it, see deploy/nginx/portal.conf) when it is a sane one, made here otherwise,
returned in the answer's X-Request-ID, and carried into the jobs a request queues
(portal.jobs), so a job's lines carry the id of the request that asked for the work.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime

from flask import Flask, Response, current_app, g, request

REQUEST_ID_HEADER = "X-Request-ID"
LOG_FORMATS = ("json", "text")
# What a proxy may hand us: letters, digits and a few separators, 8 to 64 of them (a
# UUID, nginx's 32 hex digits). Anything else is replaced, never logged as it came.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "portal_request_id", default=None
)

_access_log = logging.getLogger("portal.access")
# One encoder for every line (json.dumps with options builds a new one each call).
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)

# The attributes every LogRecord has: what is not among them came in `extra`.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def event(log: logging.Logger, name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log `name` with its fields; callers pass only values that are safe to keep."""
    if not log.isEnabledFor(level):
        return
    text = " ".join([name, *(f"{key}={value!r}" for key, value in fields.items())])
    log.log(level, text, extra={"event": name, "fields": fields})


# --- the request id -------------------------------------------------------------------


def current_request_id() -> str | None:
    """The id of the request (or of the request that queued the job) being served."""
    return _request_id.get()


def new_request_id() -> str:
    # 32 random hex digits, as nginx's $request_id (uuid4 costs five times as much).
    return secrets.token_hex(16)


def sane_request_id(value: str | None) -> str | None:
    """`value` if a proxy could have made it, else None."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def bind_request_id(request_id: str | None) -> contextvars.Token:
    """Make `request_id` the current one (a job: the id of the request that queued it)."""
    return _request_id.set(request_id)


def unbind_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def _start_request() -> None:
    # Only a proxy the app trusts sets it (nginx overwrites whatever the client sent).
    from_proxy = current_app.config["PORTAL_TRUSTED_PROXIES"] and request.headers.get(
        REQUEST_ID_HEADER
    )
    request_id = sane_request_id(from_proxy or None) or new_request_id()
    g.request_started = time.perf_counter()
    g.request_id = request_id
    g.request_id_token = _request_id.set(request_id)


def _finish_request(response: Response) -> Response:
    """The id into the answer's header, and the access log's line (in place of
    gunicorn's: this one has the request id, the endpoint, and no query string, which
    may carry a token)."""
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    event(
        _access_log,
        "http.request",
        method=request.method,
        path=request.path,
        endpoint=request.endpoint,
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
    )
    return response


def _end_request(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        # Set in another context (a copied one): it dies with that context.
        with contextlib.suppress(ValueError):
            _request_id.reset(token)


# --- formatting -----------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Give every record the current request id (None outside requests and jobs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, the
    event's name and fields (portal.logs.event), and a traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
        }
        name = getattr(record, "event", None)
        if name:
            line["event"] = name
            for key, value in (getattr(record, "fields", None) or {}).items():
                line.setdefault(key, value)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in ("event", "fields", "request_id"):
                line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _JSON.encode(line)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


# --- wiring ---------------------------------------------------------------------------


class _PortalHandler(logging.StreamHandler):
    """The handler `configure` puts on the "portal" logger (found again by its class).
    Without a stream of its own it writes to whatever sys.stderr is at the time."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self._own_stream = stream

    @property
    def stream(self):
        return self._own_stream or sys.stderr

    @stream.setter
    def stream(self, value):
        self._own_stream = value


def configure(log_format: str, level: str | int, stream=None) -> logging.Handler:
    """Write the "portal" loggers' records at `level` and above to `stream` (default:
    stderr, which systemd's journal keeps) as JSON lines or text; replaces the handler
    an earlier call (another app in this process) put there.

    The loggers themselves pass INFO whatever `level` says, so the metrics can count
    the INFO events (portal.metrics.EventCounter) that the output leaves out."""
    if log_format not in LOG_FORMATS:
        raise RuntimeError(f"PORTAL_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(number, int):
        raise RuntimeError(f"PORTAL_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    logger = logging.getLogger("portal")
    for old in [h for h in logger.handlers if isinstance(h, _PortalHandler)]:
        logger.removeHandler(old)
    handler = _PortalHandler(stream)
    handler.setLevel(number)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    wanted = min(logging.INFO, number)
    if logger.level == logging.NOTSET or wanted < logger.level:
        logger.setLevel(wanted)  # never raised: of several apps in a process, the most verbose
    return handler


def init_app(app: Flask) -> None:
    """A request id for every request; the "portal" loggers as PORTAL_LOG_FORMAT says.

    The request-id hooks go first, so whatever the other hooks log carries the id."""
    # Flask's own handler on app.logger ("portal") would write every line twice.
    from flask.logging import default_handler

    configure(app.config["PORTAL_LOG_FORMAT"], app.config["PORTAL_LOG_LEVEL"])
    app.logger.removeHandler(default_handler)
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
