"""PostgreSQL restarted under a running portal (issue 14, faults): what the requests got
while it was down and how soon the app served again by itself (pool_pre_ping).

    .venv/bin/python bench/postgres_restart.py [--down 3]

Makes a PostgreSQL cluster of its own (initdb, pg_ctl; as the postgres user when run as
root) on a free port in a temporary folder, so no shared server is touched; migrates it,
adds a subscriber, starts gunicorn (one worker, the sample config), signs in and keeps a
signed-in browser asking for the home page every 50 ms while the server is stopped
(`pg_ctl stop -m fast`: connections in use are cut), left down for --down seconds, and
started again. Prints the answers by phase and status, whether any was a 500 or showed
a trace, and how long after the restart the first page came back. Exits 1 if any answer
was a 500 or a trace, or the app did not come back. Needs initdb and pg_ctl (on PATH or
Debian's /usr/lib/postgresql/<version>/bin).
tests/test_faults_postgres.py runs the same restart as a test (in CI), with its cluster.
"""

import argparse
import collections
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests
import sqlalchemy as sa
from flask_migrate import upgrade

from portal import create_app
from portal.domain import subscribers
from portal.extensions import db

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tools/ is beside bench/
from tools.demo_server import free_port, wait_until_serving  # noqa: E402

BIN = Path(sys.executable).parent
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PASSWORD = "the-right-password"


def server_tools() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else Debian's (/usr/lib/postgresql/<version>/
    bin, the newest, where pg_ctlcluster finds them); None without PostgreSQL's server."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
    )
    return debian[-1].parent if debian else None


class Cluster:
    """A throwaway PostgreSQL cluster: initdb, pg_ctl start/stop, removed after."""

    def __init__(self, folder: Path):
        tools = server_tools()
        assert tools is not None, "initdb and pg_ctl are needed"
        self.initdb, self.pg_ctl = str(tools / "initdb"), str(tools / "pg_ctl")
        self.data, self.port = folder / "pgdata", free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(folder, "postgres")
        self.log = folder / "postgres.log"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal"

    def run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        # Throwaway: nothing of it needs to survive a crash of the machine (no fsync).
        self.run(
            self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        self.start()
        admin = sa.create_engine(self.url.rsplit("/", 1)[0] + "/postgres")
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("CREATE DATABASE portal")
        admin.dispose()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off"
        )
        log = str(self.log)
        self.run(self.pg_ctl, "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self.run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")


def prepare(url: str) -> None:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "PORTAL_MODE": "development"})
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        subscribers.create_subscriber(
            db.session, contract_number="700", login="bench", name="Bench",
            phone="+79780000000", password=PASSWORD,
        )  # fmt: skip
        db.session.commit()
        db.engine.dispose()


def start_web(folder: Path, url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-restart",
        "PORTAL_MODE": "development", "PORTAL_PUBLIC_URL": "http://127.0.0.1",
    }  # fmt: skip
    with (folder / "web.log").open("w") as log:  # the child keeps its own copy
        web = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
             "-b", f"127.0.0.1:{port}", "-w", "1", "portal:create_app()"],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, web, folder / "web.log", seconds=60)
    return web, base


@contextlib.contextmanager
def portal_on_own_cluster() -> Iterator[tuple[Cluster, str, Path]]:
    """A throwaway cluster, migrated, with the subscriber, and gunicorn on it: (the
    cluster, the portal's base URL, the folder holding both); all removed after."""
    # In a folder of its own under /tmp: the postgres user must reach it.
    folder = Path(tempfile.mkdtemp(prefix="portal-pg-restart-"))
    cluster = Cluster(folder)
    web = None
    try:
        cluster.create()
        prepare(cluster.url)
        web, base = start_web(folder, cluster.url)
        yield cluster, base, folder
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=30)
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def sign_in(base: str) -> requests.Session:
    browser = requests.Session()
    token = TOKEN.search(browser.get(f"{base}/login", timeout=10).text).group(1)
    data = {"login": "bench", "password": PASSWORD, "csrf_token": token}
    answer = browser.post(f"{base}/login", data=data, allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.status_code
    return browser


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--down", type=float, default=3, help="seconds the server stays down")
    args = parser.parse_args()
    if server_tools() is None:
        print("initdb and pg_ctl are needed (PostgreSQL's server package)")
        return 2

    with portal_on_own_cluster() as (cluster, base, folder):
        browser = sign_in(base)
        phase = ["up"]
        answers: list[tuple[str, float, str, bool]] = []  # phase, when, status, trace shown
        stop = threading.Event()

        def ask() -> None:
            while not stop.is_set():
                now = time.monotonic()
                try:
                    page = browser.get(
                        f"{base}/", headers={"Accept-Language": "en"}, timeout=10,
                        allow_redirects=False,
                    )  # fmt: skip
                    status = str(page.status_code)
                    if status == "503" and "Retry-After" not in page.headers:
                        status += " without Retry-After"
                    answers.append((phase[0], now, status, "Traceback" in page.text))
                except requests.RequestException as error:
                    answers.append((phase[0], now, type(error).__name__, False))
                stop.wait(0.05)

        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        time.sleep(1)
        phase[0] = "down"
        cluster.stop()
        time.sleep(args.down)
        phase[0] = "restarted"
        cluster.start()
        restarted_at = time.monotonic()
        time.sleep(3)
        stop.set()
        asking.join(15)

        by_phase = collections.defaultdict(collections.Counter)
        for name, _when, status, _trace in answers:
            by_phase[name][status] += 1
        for name in ("up", "down", "restarted"):
            print(
                f"{name:>9}: " + ", ".join(f"{s} x{n}" for s, n in sorted(by_phase[name].items()))
            )
        back = [w for name, w, s, _ in answers if name == "restarted" and s == "200"]
        errors = [a for a in answers if a[2] == "500" or a[3]]
        print(f"500s or traces: {len(errors)}")
        if back:
            print(f"first 200 after the restart: {(back[0] - restarted_at) * 1000:.0f} ms")
        else:
            print("no 200 after the restart")
        log = (folder / "web.log").read_text()
        print(f"web log: {log.count('Traceback')} tracebacks")
        return 0 if back and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
