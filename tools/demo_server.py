"""Run `portal demo` in a child process on a free port with its own SQLite file: the
real server that the browser tests and the benchmarks talk to.

A child process rather than a thread: the server keeps its own clock, rate limits and
database sessions, so nothing a test does in this process leaks into it, or back.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STARTUP_SECONDS = 90


@dataclass(frozen=True)
class DemoServer:
    url: str  # no trailing slash: http://127.0.0.1:PORT
    login: str
    password: str
    staff_login: str  # the console's demo administrator
    staff_password: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_demo(folder: Path, **env_overrides: str):
    """Start the demo with its database in `folder`; stop it on leaving the block."""
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{folder / 'demo.db'}",
        "SECRET_KEY": "demo-server-" + str(port),
        "PORTAL_MODE": "demo",
        **env_overrides,
    }
    env.pop("REDIS_URL", None)  # sign-in throttling in the process's own memory
    command = [sys.executable, "-m", "portal.cli", "demo", "--port", str(port)]
    log_path = folder / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process, log_path)
        output = log_path.read_text()
        login, password = _sign_in_from(output, "Sign in with")
        staff_login, staff_password = _sign_in_from(output, "Staff console:")
        yield DemoServer(url, login, password, staff_login, staff_password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(
    url: str, process: subprocess.Popen, log_path: Path, seconds: float = STARTUP_SECONDS
) -> None:
    """Return once the server started as `process` answers at `url`; raise with its log
    when it stops first or does not answer within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError("the server stopped:\n" + log_path.read_text())
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer:\n" + log_path.read_text()) from None
            time.sleep(0.2)


def _sign_in_from(output: str, line_start: str) -> tuple[str, str]:
    found = re.search(
        "^" + re.escape(line_start) + r".*?login: (\S+)\s+password: (\S+)", output, re.M
    )
    if not found:
        raise RuntimeError("the demo printed no sign-in:\n" + output)
    return found.group(1), found.group(2)
