"""How many password hashes one process runs at once (credentials.limit_hashing)."""

import threading
import time

import pytest

from portal.domain.auth import credentials
from tests.conftest import make_test_app


class CountingHasher:
    """A stand-in hasher that takes a while and records how many ran together."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def _work(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1

    def hash(self, password: str) -> str:
        self._work()
        return "$argon2id$stand-in"

    def verify(self, stored: str, password: str) -> bool:
        self._work()
        return True


@pytest.fixture
def counting(monkeypatch):
    hasher = CountingHasher()
    monkeypatch.setattr(credentials, "_hasher", hasher)
    yield hasher
    credentials.limit_hashing(1)  # the default, as create_app sets it


def at_once(work, threads: int = 6) -> None:
    started = [threading.Thread(target=work) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()


@pytest.mark.parametrize("limit", [1, 2])
def test_no_more_hashes_run_together_than_the_limit(counting, limit):
    credentials.limit_hashing(limit)
    at_once(lambda: credentials.verify("$argon2id$stand-in", "password"))
    at_once(lambda: credentials.hash_password("password"))
    assert counting.most == limit


def test_no_limit_lets_them_all_run(counting):
    credentials.limit_hashing(0)
    at_once(lambda: credentials.verify("$argon2id$stand-in", "password"), threads=4)
    assert counting.most == 4


def test_the_app_sets_the_limit_from_its_settings(counting, tmp_path):
    make_test_app(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, PORTAL_PASSWORD_HASHES_AT_ONCE=3)
    at_once(lambda: credentials.hash_password("password"))
    assert counting.most == 3
