"""The README's quick start: `portal demo` starts, and the sign-in it prints works."""

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_command_serves_and_its_printed_sign_in_works(tmp_path):
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "SECRET_KEY": "quickstart-test",
        "PORTAL_MODE": "demo",
    }
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "portal.cli", "demo", "--port", str(port)]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as server:
        try:
            lines = []
            for line in server.stdout:
                lines.append(line)
                if line.startswith("Staff console:"):
                    break
            output = "".join(lines)
            assert f"http://127.0.0.1:{port}/" in output, output
            login, password = re.search(r"login: (\S+)\s+password: (\S+)", output).groups()
            home, opener = _sign_in(f"http://127.0.0.1:{port}/login", login, password)
            html = home.read().decode()
            assert home.url == f"http://127.0.0.1:{port}/"
            assert 'id="balance"' in html and "₽" in html
            offers = opener.open(f"http://127.0.0.1:{port}/promos/", timeout=10).read().decode()
            assert "Wi-Fi роутер за 1 ₽" in offers
            staff_login, staff_password = re.search(
                r"Staff console: \S+\s+login: (\S+)\s+password: (\S+)", output
            ).groups()
            console, _ = _sign_in(
                f"http://127.0.0.1:{port}/staff/login", staff_login, staff_password
            )
            # The demo admin signs in, then must turn on two-step sign-in before anything.
            assert console.url == f"http://127.0.0.1:{port}/staff/totp"
        finally:
            server.terminate()
    # A second run keeps what is there.
    again = subprocess.run(
        [*command, "--no-serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert "already present" in again.stdout


def _sign_in(url: str, login: str, password: str):
    """Post a sign-in form as a browser would, with its own cookies; the final answer and
    the browser (signed in)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = _wait_for(opener, url)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"login": login, "password": password, "csrf_token": token}
    ).encode()
    return opener.open(url, data=data, timeout=10), opener


def _wait_for(opener, url: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            return opener.open(url, timeout=5).read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
