"""A load test: simulated subscribers signing in, browsing and paying through the sandbox
acquirer, against two gunicorn instances behind nginx that share PostgreSQL and Redis.

    source scripts/_venv.sh test      # once: locust is in the test lock
    apt-get install nginx-light       # or nginx; only its binary is used
    .venv/bin/python bench/load.py [--users 200] [--seconds 60] [--spawn-rate 2]
        [--kill-one-at SECONDS] [--database-url postgresql://postgres@127.0.0.1:5432/test]
        [--redis-url redis://127.0.0.1:6379/0] [--accounts N] [--think 1-3] [--workers N]
        [--keep DIR]

Everything listens on 127.0.0.1 and stops when the run ends. It makes a database of its
own on the PostgreSQL server given (dropped afterwards; a SQLite URL or "" is refused:
two instances need a shared server), loads the demo's catalogue (tariffs, add-ons) and
--accounts subscriber accounts (default: as many as users) with one known password, each
with 1,000 ₽ on its balance; empties the Redis database given (FLUSHDB, before and
after: give one nothing else uses); starts two gunicorn instances with
deploy/gunicorn.conf.py's settings on free ports, and nginx (a private config in a
temporary folder, run as a child process with its own pid, log and temporary paths) with
both in one upstream and the proxy headers of deploy/nginx/portal.conf. Then locust
(bench/load_users.py, headless) starts --users simulated subscribers, --spawn-rate a
second (each signs in as it starts: a sign-in costs about 0.25 s of CPU, so they cannot
all start at once on a small machine), and runs them all together for --seconds more.

Each simulated subscriber comes from its own address: locust plays a balancer in front,
setting X-Forwarded-For, which nginx believes from 127.0.0.1 (realip, as the README's
"Several hosts" sets it up) and passes to the app as its one trusted proxy. So the app's
per-address limits are left as they are and count each subscriber alone; none of the
app's settings is changed for the load but the ones a test server needs (development
mode for the sandbox acquirer, cookies without Secure over plain HTTP).

--kill-one-at S: S seconds after the last user started, one instance (its master and
workers) gets SIGKILL. nginx passes a request the dead instance did not take to the
other one (proxy_next_upstream error, GET or POST alike: nothing was sent); a request
the dead instance had already taken is lost with it: a GET is sent again to the other
one (idempotent), a POST is not (nginx never repeats a non-idempotent request it sent:
it could do twice what the app did once), and the client gets a 502. The simulated payer
then presses Pay (or sends the card) again on the same form, whose creation key finds
the payment the first press made. Those failures are expected and printed apart (ended
before the kill, in flight at it, started after it), and must cost no money: the
portal's payment rows and the acquirer's records are in PostgreSQL, a payment the payer
paid while its notification or return page died is settled by `portal payments
reconcile` (run after the load, as its timer would), and the checks below must hold.

Printed: per request kind, the requests, failures, p50 and p99 (ms); the errors in total
(the goal: none); payments started, shown paid to the payer, and by state in the
database; then the checks in the database: every account's balance equals the sum of its
ledger entries, every succeeded payment is credited exactly once and no other payment at
all, every payment the acquirer took is credited. Exit status 1 if a check fails; the
request errors are figures, not a failure.
"""

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tools/ is beside bench/

from tools.demo_server import free_port, wait_until_serving  # noqa: E402
from tools.scratch_db import migrated_app, scratch_database  # noqa: E402

BIN = Path(sys.executable).parent
LOGIN_PREFIX = "load"
PASSWORD = "load-test-password-2026"
OPENING_BALANCE = 1000_00
SECRET_KEY = "load-bench-secret-key-load-bench-secret-key"
STOP_SECONDS = 20  # at the end, the time each user has to finish what it is doing
FLOW_STEPS = ("payment started", "payment shown paid")


# -- the database ----------------------------------------------------------------------


def make_accounts(database_url: str, count: int) -> None:
    """The demo's catalogue, and `count` subscribers load0, load1, ... with PASSWORD, made
    by the domain's create_subscriber (the password hashed once and the hash reused:
    argon2's cost, on purpose a fraction of a second, 200 times over would be most of
    the set-up), each with OPENING_BALANCE on the ledger."""
    from portal import clock, demo
    from portal.domain import ledger, subscribers
    from portal.domain.auth import credentials
    from portal.extensions import db
    from portal.models import EntryKind

    app = migrated_app(database_url, PORTAL_LOG_LEVEL="WARNING")
    with app.app_context():
        tz = app.config["PORTAL_TIMEZONE"]
        today = clock.local_today(tz)
        demo.load_catalogue(db.session)
        shared = credentials.hash_password(PASSWORD)
        with mock.patch.object(credentials, "hash_password", lambda _password: shared):
            for n in range(count):
                new = subscribers.create_subscriber(
                    db.session,
                    contract_number=f"9{n:06d}",
                    login=f"{LOGIN_PREFIX}{n}",
                    name=f"Абонент нагрузки {n}",
                    phone=f"+7978{5000000 + n}",
                    password=PASSWORD,
                    tariff_codes=("net-city", "tv-basic"),
                    service_codes=("static-ip",),
                    start=today - timedelta(days=20),
                    actor="bench",
                )
                ledger.post(
                    db.session,
                    new.account.id,
                    EntryKind.CORRECTION,
                    OPENING_BALANCE,
                    key=f"load-opening:{n}",
                    description="Opening balance (bench/load.py)",
                )
        db.session.commit()
        db.engine.dispose()


CHECKS = {
    "accounts whose balance is not the sum of their entries": """
        SELECT count(*) FROM accounts a
        WHERE a.balance <> (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e
                            WHERE e.account_id = a.id)""",
    "succeeded payments not credited exactly once": """
        SELECT count(*) FROM payments p
        WHERE p.status = 'succeeded' AND (SELECT count(*) FROM ledger_entries e
              WHERE e.idempotency_key = 'payment:' || p.id) <> 1""",
    "payments credited but not succeeded": """
        SELECT count(*) FROM payments p
        WHERE p.status <> 'succeeded' AND EXISTS (SELECT 1 FROM ledger_entries e
              WHERE e.idempotency_key = 'payment:' || p.id)""",
    "payments the acquirer took but the portal did not credit": """
        SELECT count(*) FROM sandbox_payments s JOIN payments p
          ON p.provider_payment_id = s.id
        WHERE s.status = 'succeeded' AND p.status <> 'succeeded'""",
}


def payment_states(database_url: str) -> dict[str, int]:
    """The load's payments (not the demo's) by state."""
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT p.status, count(*) FROM payments p JOIN accounts a ON a.id = p.account_id"
            " JOIN people pe ON pe.id = a.person_id WHERE pe.login LIKE %(prefix)s"
            " GROUP BY p.status ORDER BY p.status",
            {"prefix": LOGIN_PREFIX + "%"},
        ).all()
    engine.dispose()
    return {str(status).lower(): count for status, count in rows}


def money_checks(database_url: str) -> dict[str, int]:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        found = {name: conn.exec_driver_sql(query).scalar_one() for name, query in CHECKS.items()}
    engine.dispose()
    return found


# -- the servers ---------------------------------------------------------------------------


def app_environment(database_url: str, redis_url: str, public_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,  # the same on both instances, as the README says
        "PORTAL_MODE": "development",  # the sandbox acquirer runs in demo/development only
        "PORTAL_PUBLIC_URL": public_url,  # nginx: the acquirer's redirects and notifications
        "PORTAL_TRUSTED_PROXIES": "1",  # nginx, as deployed
        "PORTAL_SECURE_COOKIES": "0",  # plain HTTP on 127.0.0.1
        "PORTAL_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each worker counts for itself
    return env


def start_instance(label: str, env: dict, folder: Path, workers: int | None) -> tuple:
    """A gunicorn instance with deploy/gunicorn.conf.py's settings on a free port, in a
    process group of its own (so a SIGKILL to the group takes master and workers)."""
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
        "-b", f"127.0.0.1:{port}",
        *(["-w", str(workers)] if workers else []),
        # Each instance its own control socket (gunicorn's default is one per user).
        "--control-socket", str(folder / f"{label}.ctl"),
        "portal:create_app()",
    ]  # fmt: skip
    log_path = folder / f"{label}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, port, log_path


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    log_format load '$msec $request_method $uri $status $request_time'
                    ' $upstream_addr $upstream_status $upstream_response_time';
    access_log {folder}/nginx-access.log load;

    # Both instances. max_fails=0: never marked down. nginx counts a timed-out answer
    # as a failure whatever proxy_next_upstream says, and with its default (1 in 10 s)
    # two slow answers under load took both instances out: every request then got a
    # 502 "no live upstreams" at once. A dead instance refuses the connection at once
    # on this host, and the request goes to the other (proxy_next_upstream error).
    upstream portal_app {{
        server 127.0.0.1:{port_a} max_fails=0;
        server 127.0.0.1:{port_b} max_fails=0;
        keepalive 32;
        keepalive_timeout 4s;  # under gunicorn's keepalive (5 s), as in deploy/nginx
    }}

    server {{
        listen 127.0.0.1:{port};
        # The client's address from the balancer in front (here locust, on 127.0.0.1),
        # as on each app host of the README's "Several hosts".
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;

        # The proxy headers of deploy/nginx/portal.conf.
        proxy_set_header Host              $host;
        proxy_set_header X-Forwarded-For   $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host  $host;
        proxy_set_header X-Request-ID      $request_id;
        proxy_set_header Connection        "";
        proxy_http_version 1.1;
        proxy_read_timeout 35s;
        proxy_connect_timeout 5s;
        # An instance that refuses or drops the connection: the request goes to the
        # other, unless it was a POST already sent (nginx's default, kept on purpose).
        # Not on a timeout (nginx's default has it): a slow instance is busy, not dead,
        # and sending its slow GETs to the other one too only doubles the load.
        proxy_next_upstream error;
        proxy_next_upstream_tries 2;

        location / {{
            proxy_pass http://portal_app;
        }}
    }}
}}
"""


def start_nginx(folder: Path, port: int, port_a: int, port_b: int) -> subprocess.Popen:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is needed: apt-get install nginx-light")
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, port=port, port_a=port_a, port_b=port_b))
    command = [nginx, "-p", str(folder), "-e", str(folder / "nginx-error.log"), "-c", str(conf)]
    with (folder / "nginx.out").open("w") as log:
        return subprocess.Popen(
            command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def flush_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    """Stop a server started in a process group of its own: SIGKILL to the whole group
    (master and workers at once, as a crash of the host would), any other signal to the
    master, which stops its workers; the group killed if it has not stopped in 30 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if sig is signal.SIGKILL:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# -- the run ---------------------------------------------------------------------------------


def ramp_up(args) -> int:
    """Seconds until every simulated subscriber has started (and signed in)."""
    return round(args.users / args.spawn_rate)


def run_locust(args, base: str, folder: Path, kill) -> tuple[float, float | None]:
    """Run locust headless; `kill()` at --kill-one-at. The moment the load started and
    the moment of the kill (None without one)."""
    env = {
        **os.environ,
        "LOAD_EVENTS": str(folder / "events.jsonl"),
        "LOAD_LOGIN_PREFIX": LOGIN_PREFIX,
        "LOAD_ACCOUNTS": str(args.accounts),
        "LOAD_PASSWORD": PASSWORD,
        "LOAD_THINK": args.think,
    }
    command = [
        str(BIN / "locust"), "-f", str(ROOT / "bench" / "load_users.py"), "--headless",
        "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{ramp_up(args) + args.seconds}s",
        "--host", base, "--csv", str(folder / "locust"), "--only-summary",
        "--stop-timeout", str(STOP_SECONDS), "--loglevel", "WARNING",
    ]  # fmt: skip
    killed_at = []
    started = time.time()
    with (folder / "locust.log").open("w") as log:
        locust = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        if args.kill_one_at is not None:

            def later():
                time.sleep(ramp_up(args) + args.kill_one_at)
                if locust.poll() is None:
                    kill()
                    killed_at.append(time.time())

            threading.Thread(target=later, daemon=True).start()
        try:
            locust.wait(timeout=ramp_up(args) + args.seconds + STOP_SECONDS + 60)
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.wait()
    return started, (killed_at[0] if killed_at else None)


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def read_events(path: Path) -> list[list]:
    if not path.exists():
        return []
    with path.open() as lines:
        return [json.loads(line) for line in lines if line.strip()]


def report(events: list[list], started: float, killed_at: float | None, ramp: int) -> int:
    """Print the figures of the requests; the number of failed requests."""
    kinds: dict[str, list] = collections.defaultdict(list)
    flows = collections.Counter()
    for event in events:
        if event[1] in FLOW_STEPS:
            flows[event[1]] += 1
        else:
            kinds[event[1]].append(event)
    print(f"{'request':<20} {'requests':>8} {'failures':>8} {'p50 ms':>8} {'p99 ms':>8}")
    total = failed = 0
    for name in sorted(kinds):
        rows = kinds[name]
        times = sorted(e[2] for e in rows if not e[3])
        bad = sum(1 for e in rows if e[3])
        total, failed = total + len(rows), failed + bad
        print(
            f"{name:<20} {len(rows):8d} {bad:8d} {percentile(times, 0.5):8.0f}"
            f" {percentile(times, 0.99):8.0f}"
        )
    every = sorted(e[2] for e in events if e[1] not in FLOW_STEPS and not e[3])
    print(
        f"{'all':<20} {total:8d} {failed:8d} {percentile(every, 0.5):8.0f}"
        f" {percentile(every, 0.99):8.0f}"
    )
    print(f"errors: {failed} of {total} requests")
    if killed_at is not None:
        print(
            f"one instance killed {killed_at - started:.1f} s into the run"
            f" ({killed_at - started - ramp:.1f} s after the last user started)"
        )
        requests = [e for e in events if e[1] not in FLOW_STEPS]
        for phase, chosen in (
            ("ended before the kill", [e for e in requests if e[0] + e[2] / 1000 < killed_at]),
            (
                "in flight at the kill",
                [e for e in requests if e[0] < killed_at <= e[0] + e[2] / 1000],
            ),
            ("started after the kill", [e for e in requests if e[0] >= killed_at]),
        ):
            bad = [e for e in chosen if e[3]]
            print(f"  {phase}: {len(bad)} failed of {len(chosen)}")
            for (name, status), count in sorted(
                collections.Counter((e[1], str(e[4])) for e in bad).items()
            ):
                print(f"    {count:5d}  {name}: {status}")
    elif failed:
        for (name, status), count in sorted(
            collections.Counter((e[1], str(e[4])) for e in events if e[3]).items()
        ):
            print(f"  {count:5d}  {name}: {status}")
    print(
        f"payments started: {flows['payment started']}, shown paid to the payer:"
        f" {flows['payment shown paid']}"
    )
    return failed


def reconcile(env: dict, folder: Path) -> str:
    """`portal payments reconcile`, as its timer runs it after the load."""
    answer = subprocess.run(
        [str(BIN / "portal"), "payments", "reconcile"],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = answer.stdout.strip().splitlines()
    return lines[-1] if lines else f"exit {answer.returncode}: {answer.stderr.strip()[-500:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--spawn-rate", type=float, default=2.0, help="users started a second (each signs in)"
    )
    parser.add_argument("--accounts", type=int, help="subscriber accounts (as many as users)")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server: the run makes a database of its own there",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="a Redis database emptied before and after the run",
    )
    parser.add_argument(
        "--think", default="1-3", help="seconds between a user's steps, at random (MIN-MAX)"
    )
    parser.add_argument("--workers", type=int, help="per instance (deploy/gunicorn.conf.py's)")
    parser.add_argument("--kill-one-at", type=float, metavar="SECONDS")
    parser.add_argument("--keep", type=Path, help="copy the logs and locust's CSVs here")
    args = parser.parse_args()
    args.accounts = args.accounts or args.users
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("--database-url: a PostgreSQL server (two instances share it)")

    with (
        scratch_database(args.database_url, "load") as url,
        tempfile.TemporaryDirectory(prefix="portal-load-") as name,
    ):
        folder = Path(name)
        os.chmod(folder, 0o755)  # nginx's workers (nobody) read nothing here but write temp
        begun = time.monotonic()
        make_accounts(url, args.accounts)
        print(
            f"database: PostgreSQL; {args.accounts} accounts made in"
            f" {time.monotonic() - begun:.0f} s"
        )
        flush_redis(args.redis_url)
        port = free_port()
        env = app_environment(url, args.redis_url, f"http://127.0.0.1:{port}")
        a = start_instance("gunicorn-a", env, folder, args.workers)
        b = start_instance("gunicorn-b", env, folder, args.workers)
        nginx = None
        try:
            for process, app_port, log_path in (a, b):
                wait_until_serving(f"http://127.0.0.1:{app_port}", process, log_path)
            nginx = start_nginx(folder, port, a[1], b[1])
            wait_until_serving(f"http://127.0.0.1:{port}", nginx, folder / "nginx-error.log")
            started, killed_at = run_locust(
                args, f"http://127.0.0.1:{port}", folder, lambda: stop(a[0], signal.SIGKILL)
            )
            time.sleep(2)  # the notifications the acquirer sent last
        finally:
            for process in (nginx, a[0], b[0]):
                if process is not None:
                    stop(process, signal.SIGQUIT if process is nginx else signal.SIGTERM)
            if args.keep:
                shutil.copytree(
                    folder, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.ctl")
                )
        load = Path("/proc/loadavg").read_text().split()[:3]
        print(
            f"{args.users} users (started {args.spawn_rate:g}/s: {ramp_up(args)} s), then"
            f" {args.seconds} s all together, {args.think} s between steps;"
            f" 2 gunicorn instances x {args.workers or 'the config'} workers behind nginx;"
            f" load average after: {' '.join(load)}"
        )
        report(read_events(folder / "events.jsonl"), started, killed_at, ramp_up(args))
        before = payment_states(url)
        print(
            "payments in the database (the load's accounts):",
            ", ".join(f"{k} {v}" for k, v in before.items()),
        )
        print("portal payments reconcile:", reconcile(env, folder))
        after = payment_states(url)
        if after != before:
            print("payments after it:", ", ".join(f"{k} {v}" for k, v in after.items()))
        checks = money_checks(url)
        for check, count in checks.items():
            print(f"check: {check}: {count}")
        flush_redis(args.redis_url)
    wrong = sum(checks.values())
    print("money checks:", "all hold" if not wrong else f"FAILED ({wrong})")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
