"""bench/load.py on 5 simulated subscribers for 5 s, one instance killed 2 s in, so the
load test keeps working as the code changes (PostgreSQL, Redis, nginx and locust from
the test lock; .ci/run installs nginx). Its figures are printed, never judged here;
what is judged is what must hold at any speed: the money checks, and no answer but the
502s of requests the killed instance took with it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import required_server

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def needed(tool: str, found: bool, install: str) -> None:
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: .ci/run installs it ({install})")
        pytest.skip(f"{tool} is needed: {install}")


def test_the_load_benchmark_runs_and_the_money_checks_hold():
    needed("locust", (BIN / "locust").exists(), "source scripts/_venv.sh test")
    needed("nginx", bool(shutil.which("nginx") or Path("/usr/sbin/nginx").exists()), "apt-get")
    database, redis = required_server("TEST_DATABASE_URL"), required_server("TEST_REDIS_URL")
    command = [sys.executable, str(ROOT / "bench" / "load.py"), "--users", "5"]
    command += ["--seconds", "5", "--workers", "1", "--kill-one-at", "2"]
    command += ["--database-url", database, "--redis-url", redis]
    run = subprocess.run(command, capture_output=True, text=True, timeout=240)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "money checks: all hold" in out
    for check in re.findall(r"^check: .*: (\d+)$", out, re.M):
        assert check == "0", out
    signed_in = re.search(r"^sign-in POST\s+(\d+)\s+(\d+)", out, re.M)
    assert signed_in and int(signed_in.group(1)) >= 5, out
    assert re.search(r"^errors: \d+ of \d+ requests$", out, re.M), out
    assert "one instance killed" in out and "started after the kill:" in out
    # Every failure listed is a 502 of a request the dead instance had taken: never a
    # 500, a 4xx or an error of the client's.
    failures = re.findall(r"^\s+\d+\s+(.+?): (.+)$", out, re.M)
    assert all(status.startswith("502") for _kind, status in failures), out
