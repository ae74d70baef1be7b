"""How many requests a second the portal serves under gunicorn, beside a bare Flask page.

    .venv/bin/python bench/throughput.py [--seconds 10] [--connections 16]
        [--worker-class sync|gthread] [--workers 2] [--threads 4] [--rounds 1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Makes a scratch database (a temporary SQLite file, or a database of its own on the
PostgreSQL server given, dropped afterwards), loads the demo provider into it, and starts
one gunicorn on 127.0.0.1 (the settings of deploy/gunicorn.conf.py, with the worker count
and class given here). That gunicorn serves the portal and, under /__bare/, a bare Flask
app that returns a constant page as large as the home page: both on the same workers, in
the same run. Signed in as the demo subscriber, it then loads with wrk (Debian's `wrk`),
one target after another, for --seconds each: the home page, an htmx fragment (the
history's list, as its filter asks for it), the history page, the sign-in POST, and the
bare page; and the portal's /healthz, signed in, for its fixed cost on every
request. It prints requests/s, p50 and p99 of each, each one's rate as a share of the
bare page's, the number of SQL statements one request of each page sends (counted
in-process with a SQLAlchemy event listener, after one warm-up request), and the CPU
time one request of each page takes in process (Flask's test client, no server), a
figure that depends far less than the rates on what else the machine runs. Last, the
resident memory (RSS, from /proc) of each gunicorn worker before the load and after it.
"""

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tools/ is beside bench/

from tools.demo_server import free_port, wait_until_serving  # noqa: E402
from tools.scratch_db import migrated_app, scratch_database  # noqa: E402

BIN = Path(sys.executable).parent
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SETTINGS = {"RATELIMIT_ENABLED": False, "SESSION_COOKIE_SECURE": False}


def serve():
    """The WSGI app gunicorn runs (`throughput:serve()`): the portal, and the bare page
    under /__bare/, on the database named in BENCH_DATABASE_URL."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    # Migrated already: the upgrade each worker runs at its start finds nothing to do.
    portal = migrated_app(os.environ["BENCH_DATABASE_URL"], **SETTINGS)
    bare = bare_app(int(os.environ["BENCH_BARE_BYTES"]))
    portal.wsgi_app = DispatcherMiddleware(portal.wsgi_app, {"/__bare": bare})
    return portal


def bare_app(size: int):
    """A Flask app with one page: `size` bytes of constant HTML."""
    from flask import Flask

    page = "<!doctype html>" + "x" * (size - 15)
    bare = Flask("bare")
    bare.add_url_rule("/", "page", lambda: page)
    return bare


def load_demo(database_url: str) -> None:
    from portal import clock, demo
    from portal.extensions import db

    app = migrated_app(database_url, PORTAL_LOG_LEVEL="WARNING", **SETTINGS)
    with app.app_context():
        tz = app.config["PORTAL_TIMEZONE"]
        demo.load(
            db.session,
            clock.local_today(tz),
            tz=tz,
            block_threshold=app.config["PORTAL_BLOCK_THRESHOLD"],
        )
        db.session.commit()
        db.engine.dispose()


def demo_form(page: str) -> dict:
    """The sign-in form of the demo subscriber, with the CSRF token of `page`."""
    from portal import demo

    token = TOKEN.search(page).group(1)
    return {"login": demo.DEMO_LOGIN, "password": demo.DEMO_PASSWORD, "csrf_token": token}


CPU_ROUNDS = 200

# The pages measured: name, path, extra headers.
PAGES = [
    ("home", "/", {}),
    ("htmx fragment", "/history/", {"HX-Request": "true"}),
    ("history", "/history/", {}),
    # The portal's floor: its smallest answer, with all it does on every signed-in
    # request (the session, the language, the logs, the metrics).
    ("/healthz", "/healthz", {}),
]


def in_process(database_url: str) -> tuple[dict[str, int], dict[str, float], int]:
    """In process, with Flask's test client: the SQL statements one request of each page
    sends (after a warm-up request), the CPU time one takes (the mean of CPU_ROUNDS: it
    depends far less than the rate on what else the machine runs), and the size of the
    home page in bytes."""
    import sqlalchemy as sa

    from portal.extensions import db

    app = migrated_app(database_url, PORTAL_LOG_LEVEL="WARNING", **SETTINGS)
    client = app.test_client()
    form = demo_form(client.get("/login").get_data(as_text=True))
    counts, cpu, statements = {}, {}, []
    with app.app_context():
        engine = db.engine

    def count(*_args):
        statements.append(1)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        anonymous = app.test_client()
        data = demo_form(anonymous.get("/login").get_data(as_text=True))
        statements.clear()
        assert anonymous.post("/login", data=data).status_code == 303
        counts["sign-in POST"] = len(statements)
        assert client.post("/login", data=form).status_code == 303
        size = 0
        for name, path, headers in PAGES:
            client.get(path, headers=headers)  # warm-up
            statements.clear()
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (name, response.status_code)
            counts[name] = len(statements)
            if name == "home":
                size = len(response.data)
            started = time.process_time()
            for _ in range(CPU_ROUNDS):
                client.get(path, headers=headers)
            cpu[name] = (time.process_time() - started) * 1000 / CPU_ROUNDS
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
        engine.dispose()
    bare = bare_app(size).test_client()
    bare.get("/")
    started = time.process_time()
    for _ in range(CPU_ROUNDS):
        bare.get("/")
    cpu["bare page"] = (time.process_time() - started) * 1000 / CPU_ROUNDS
    return counts, cpu, size


def start_gunicorn(args, env: dict, folder: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
        "-b", f"127.0.0.1:{port}",
        "-w", str(args.workers),
        "-k", args.worker_class,
        "--threads", str(args.threads if args.worker_class == "gthread" else 1),
        "--max-requests", "0",  # no recycling in the middle of a measurement
        "--pythonpath", str(ROOT / "bench") + "," + str(ROOT),
        "throughput:serve()",
    ]  # fmt: skip
    with Path(folder, "gunicorn.log").open("w") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, process, Path(folder, "gunicorn.log"), seconds=90)
    return process, base


def workers_rss(master: int) -> dict[int, float]:
    """The resident memory of each worker of the gunicorn `master` in MiB, by process id
    (from /proc: the processes whose parent is the master)."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue  # gone meanwhile
        if int(fields.get("PPid", "0")) == master and "VmRSS" in fields:
            found[int(fields["Pid"])] = int(fields["VmRSS"].split()[0]) / 1024
    return found


def wait_until_idle(pids, seconds: float = 60) -> None:
    """Until the processes spend no CPU for half a second: the requests wrk left queued
    or in flight (a sign-in's password hash on another thread) are finished."""

    def cpu_ticks() -> int:
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total

    deadline = time.monotonic() + seconds
    last = cpu_ticks()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_ticks()
        if now == last:
            return
        last = now


LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(args, url: str, headers: dict, script: str | None, folder: str) -> dict:
    command = ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s"]
    command += ["--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        path = Path(folder, "post.lua")
        path.write_text(script)
        command += ["-s", str(path)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if os.environ.get("BENCH_SHOW_WRK"):
        print(out)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = {p: float(v) * UNIT[u] for p, v, u in LATENCY.findall(out)}
    return {
        "rate": rate,
        "p50": latency.get("50", float("nan")),
        "p99": latency.get("99", float("nan")),
        "bad": int(errors.group(1)) if errors else 0,
    }


def drain(base: str) -> None:
    """Wait until the workers answer at once again (nothing queued from the last run)."""
    for _ in range(100):
        started = time.monotonic()
        requests.get(f"{base}/healthz", timeout=30)
        if time.monotonic() - started < 0.05:
            return


def post_script(base: str) -> tuple[str, dict]:
    """A wrk script that posts the sign-in form, with the anonymous session's cookie
    its CSRF token belongs to."""
    browser = requests.Session()
    form = demo_form(browser.get(f"{base}/login", timeout=10).text)
    body = "&".join(f"{k}={requests.utils.quote(v, safe='')}" for k, v in form.items())
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    script = (
        'wrk.method = "POST"\n'
        f'wrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
    )
    return script, {"Cookie": cookie}


def signed_in_cookie(base: str) -> str:
    browser = requests.Session()
    form = demo_form(browser.get(f"{base}/login", timeout=10).text)
    answer = browser.post(f"{base}/login", data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.status_code
    return "; ".join(f"{c.name}={c.value}" for c in browser.cookies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server (else a SQLite file)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk's run per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=4, help="per gthread worker")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every target")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    with (
        scratch_database(args.database_url, "throughput") as url,
        tempfile.TemporaryDirectory() as folder,
    ):
        started = time.monotonic()
        load_demo(url)
        counts, cpu, size = in_process(url)
        print(
            f"database: {url.split(':', 1)[0]}; demo loaded in {time.monotonic() - started:.0f} s"
        )
        env = {**os.environ, "BENCH_DATABASE_URL": url, "BENCH_BARE_BYTES": str(size)}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        process, base = start_gunicorn(args, env, folder)
        try:
            cookie = signed_in_cookie(base)
            script, post_headers = post_script(base)
            rss_before = workers_rss(process.pid)
            results = {name: [] for name, _, _ in PAGES} | {"sign-in POST": [], "bare page": []}
            for _ in range(args.rounds):
                # The bare page first in each round; the sign-in last, and each run after
                # the workers have drained what the one before left queued.
                results["bare page"].append(wrk(args, f"{base}/__bare/", {}, None, folder))
                for name, path, headers in PAGES:
                    drain(base)
                    run = wrk(args, base + path, {"Cookie": cookie} | headers, None, folder)
                    results[name].append(run)
                drain(base)
                run = wrk(args, f"{base}/login", post_headers, script, folder)
                results["sign-in POST"].append(run)
                drain(base)
            wait_until_idle(workers_rss(process.pid))
            rss_after = workers_rss(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    with open("/proc/loadavg") as loadavg:
        load = " ".join(loadavg.read().split()[:3])
    print(
        f"gunicorn {args.workers} {args.worker_class} workers"
        + (f" x {args.threads} threads" if args.worker_class == "gthread" else "")
        + f", wrk {args.connections} connections, {args.seconds} s each;"
        f" page {size} bytes; load average after: {load}"
    )
    print(
        f"{'target':<14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'of bare':>8} {'SQL':>4}"
        f" {'CPU ms':>7}"
    )
    for round_ in range(args.rounds):
        bare = results["bare page"][round_]["rate"]
        if args.rounds > 1:
            print(f"round {round_ + 1}")
        for name, runs in results.items():
            figures = runs[round_]
            share = figures["rate"] / bare if bare else float("nan")
            bad = f"  ({figures['bad']} non-2xx/3xx)" if figures["bad"] else ""
            print(
                f"{name:<14} {figures['rate']:8.0f} {figures['p50']:8.1f} {figures['p99']:8.1f}"
                f" {share:8.1%} {counts.get(name, 0):4d} {cpu.get(name, float('nan')):7.2f}{bad}"
            )
    # A worker that died and was replaced during the load has no "before".
    print(
        "worker RSS MiB, before -> after the load: "
        + ", ".join(
            f"{pid}: {rss_before.get(pid, float('nan')):.1f} -> {rss:.1f}"
            for pid, rss in sorted(rss_after.items())
        )
    )


if __name__ == "__main__":
    main()
