"""What the balancer and the monitoring ask: /healthz, /readyz and /metrics.

- /healthz: the process answers (no database, no Redis): for restarting a stuck one.
- /readyz: the database and Redis answer: for sending it traffic; 503 with a short
  plain-text body naming what does not.
- /metrics: Prometheus metrics (portal.metrics), only for PORTAL_METRICS_ALLOW.

All public (no session is read or made), never rate-limited, and GET only, so CSRF has
nothing to guard (the blueprint is exempted anyway, should a POST ever be added).
"""

import logging

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app

from portal import metrics
from portal.extensions import csrf, db, limiter

log = logging.getLogger("portal.health")

bp = Blueprint("health", __name__)
csrf.exempt(bp)
limiter.exempt(bp)

# A probe that waits longer than this for Redis calls it down.
REDIS_TIMEOUT_SECONDS = 2


def _plain(text: str, status: int = 200) -> Response:
    response = Response(text, status=status, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _plain("ok\n")


@bp.get("/readyz")
def readyz() -> Response:
    checks = {"database": _database_problem()}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _redis_problem()
    failing = {name: problem for name, problem in checks.items() if problem}
    if not failing:
        return _plain("".join(f"{name}: ok\n" for name in checks))
    for name, problem in failing.items():
        log.warning("health.not_ready part=%s error=%s", name, problem)
    response = _plain(
        "".join(f"{name}: {'unavailable' if checks[name] else 'ok'}\n" for name in checks), 503
    )
    response.headers["Retry-After"] = "10"
    return response


@bp.get("/metrics")
def metrics_view() -> Response:
    if not current_app.config["PORTAL_METRICS"] or not metrics.allowed_here():
        abort(404)  # as if there were nothing here
    return Response(
        metrics.exposition(current_app), mimetype=None, content_type=metrics.CONTENT_TYPE
    )


def _database_problem() -> str | None:
    """None when the database runs a query, else the error's name (never its text)."""
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as error:
        return type(error).__name__
    return None


def _redis_problem() -> str | None:
    client = current_app.extensions.get("portal_health_redis")
    if client is None:
        from redis import Redis

        client = Redis.from_url(
            current_app.config["REDIS_URL"],
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        current_app.extensions["portal_health_redis"] = client
    try:
        client.ping()
    except Exception as error:
        return type(error).__name__
    return None
