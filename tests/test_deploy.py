"""The sample deployment (finding 11): the app listens only where the proxy can reach it,
so no one can send X-Forwarded-For past the proxy and choose their own address."""

import ipaddress
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
README = ROOT / "README.md"


def is_private_bind(address: str) -> bool:
    """A gunicorn bind address that only this host can connect to."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0] if ":" in address else address
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or fd:// may resolve to anything


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("localhost:8000", True),
        ("unix:/run/portal/gunicorn.sock", True),
        ("0.0.0.0:8000", False),
        ("[::]:8000", False),
        ("192.0.2.10:8000", False),
        ("portal.example:8000", False),
        (":8000", False),
    ],
)
def test_what_counts_as_private(address, private):
    assert is_private_bind(address) is private


def test_the_sample_gunicorn_config_binds_to_loopback_or_a_socket():
    settings = runpy.run_path(str(GUNICORN_CONF))
    binds = settings["bind"]
    binds = [binds] if isinstance(binds, str) else list(binds)
    assert binds and all(is_private_bind(address) for address in binds), binds


def test_the_sample_gunicorn_config_sets_workers_threads_and_timeouts():
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["workers"] >= 2 and settings["threads"] >= 1
    assert 0 < settings["timeout"] <= 120 and settings["graceful_timeout"] > 0


def test_the_readme_deploys_with_the_sample_config_and_says_why():
    text = README.read_text()
    deployment = text.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    assert "deploy/gunicorn.conf.py" in deployment
    assert "X-Forwarded-For" in deployment
    for address in re.findall(r"--bind[ =](\S+)", deployment):
        assert is_private_bind(address), address
