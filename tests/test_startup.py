"""A production start refuses unsafe settings (finding 9), each with a message that says
what to set; demo, development and the test suite start with theirs."""

import re

import pytest

from portal import config, create_app
from tests.conftest import make_test_app

STRONG_KEY = "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def start(tmp_path, **overrides):
    """create_app with the environment's word on cookies and debug (no test overrides)."""
    settings = {
        "TESTING": True,
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "startup.db"),
        "PORTAL_MODE": "production",
        "PORTAL_PUBLIC_URL": "https://portal.test",
        "SECRET_KEY": STRONG_KEY,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PORTAL_JOBS_BACKGROUND": False,
        "REDIS_URL": None,
    }
    settings.update(overrides)
    return create_app(settings, instance_path=str(tmp_path / "instance"))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("SECRET_KEY", "PORTAL_SECURE_COOKIES", "FLASK_DEBUG", "PORTAL_MODE"):
        monkeypatch.delenv(name, raising=False)


def test_production_starts_with_safe_settings(tmp_path):
    app = start(tmp_path)
    assert app.config["SESSION_COOKIE_SECURE"] and not app.debug


@pytest.mark.parametrize("key", ["a", "short-but-random-7Gq", "a" * 64, "12345678" * 5])
def test_a_weak_secret_key_from_the_environment_is_refused(tmp_path, monkeypatch, key):
    monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(RuntimeError, match="SECRET_KEY is too weak: set at least 32 random"):
        start(tmp_path, SECRET_KEY=None)


def test_the_generated_secret_key_is_strong_enough(tmp_path):
    key = config.load_secret_key(str(tmp_path))
    assert not [p for p in config.startup_problems(_production(key)) if "SECRET_KEY" in p]


def test_cookies_without_secure_are_refused_in_production(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_SECURE_COOKIES", "0")
    with pytest.raises(RuntimeError, match="unset PORTAL_SECURE_COOKIES"):
        start(tmp_path)


@pytest.mark.parametrize(
    "overrides", [{"SESSION_COOKIE_SECURE": False}, {"REMEMBER_COOKIE_SECURE": False}]
)
def test_either_cookie_without_secure_is_refused(tmp_path, overrides):
    with pytest.raises(RuntimeError, match="PORTAL_SECURE_COOKIES=1"):
        start(tmp_path, **overrides)


def test_debug_mode_is_refused_in_production(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(RuntimeError, match="unset FLASK_DEBUG"):
        start(tmp_path)


def test_debug_set_in_the_config_is_refused_too(tmp_path):
    with pytest.raises(RuntimeError, match="debug mode"):
        start(tmp_path, DEBUG=True)


def test_every_problem_is_named_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.setenv("PORTAL_SECURE_COOKIES", "0")
    with pytest.raises(RuntimeError) as refused:
        start(tmp_path, SECRET_KEY="a")
    assert all(word in str(refused.value) for word in ("SECRET_KEY", "Secure", "FLASK_DEBUG"))


@pytest.mark.parametrize("mode", ["demo", "development"])
def test_demo_and_development_start_with_easy_settings(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.setenv("PORTAL_SECURE_COOKIES", "0")
    app = start(tmp_path, PORTAL_MODE=mode, SECRET_KEY="a")
    assert app.debug and not app.config["SESSION_COOKIE_SECURE"]


def test_the_test_suites_own_configs_start(tmp_path):
    url = "sqlite:///" + str(tmp_path / "suite.db")
    assert make_test_app(url, tmp_path).config["PORTAL_MODE"] == "development"
    assert make_test_app(url, tmp_path, PORTAL_MODE="production").config["SESSION_COOKIE_SECURE"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        # A negative fee would credit the subscriber; the ledger refuses it: every
        # promised payment would fail instead.
        ("PORTAL_PROMISED_FEE", "-1000", "PORTAL_PROMISED_FEE must be at least 0, not '-1000'"),
        ("PORTAL_SUSPENSION_DAILY_FEE", "-50", "PORTAL_SUSPENSION_DAILY_FEE must be at least 0"),
        ("PORTAL_PAYMENT_MIN", "0", "PORTAL_PAYMENT_MIN must be at least 1, not '0'"),
        # werkzeug's ProxyFix with -1 picks the wrong X-Forwarded-For entry, or none.
        ("PORTAL_TRUSTED_PROXIES", "-1", "PORTAL_TRUSTED_PROXIES must be at least 0"),
        # 0 seconds: the worker enqueues the sweeps in a loop as fast as Redis takes them.
        ("PORTAL_JOBS_SWEEP_SECONDS", "0", "PORTAL_JOBS_SWEEP_SECONDS must be more than 0"),
        ("PORTAL_PUSH_TIMEOUT", "-5", "PORTAL_PUSH_TIMEOUT must be more than 0"),
        ("PORTAL_SESSION_IDLE_HOURS", "0", "PORTAL_SESSION_IDLE_HOURS must be at least 1"),
        ("PORTAL_VISIT_REMIND_HOUR", "24", "PORTAL_VISIT_REMIND_HOUR must be at most 23"),
        ("PORTAL_SMS_RETRY_DELAY", "nan", "PORTAL_SMS_RETRY_DELAY must be a number, not 'nan'"),
        ("PORTAL_REMEMBER_DAYS", "two", "PORTAL_REMEMBER_DAYS must be a number, not 'two'"),
    ],
)
def test_a_number_setting_out_of_its_range_is_refused_naming_it(
    tmp_path, monkeypatch, name, value, message
):
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        start(tmp_path)


@pytest.mark.parametrize(
    ("low", "high", "values"),
    [
        ("PORTAL_PAYMENT_MIN", "PORTAL_PAYMENT_MAX", ("50000", "10000")),
        ("PORTAL_PROMISED_FIRST_DAY", "PORTAL_PROMISED_LAST_DAY", ("25", "5")),
        ("PORTAL_SUSPENSION_MIN_DAYS", "PORTAL_SUSPENSION_MAX_DAYS", ("30", "14")),
    ],
)
def test_a_range_whose_minimum_is_above_its_maximum_is_refused(
    tmp_path, monkeypatch, low, high, values
):
    """Each bound is in its own range, yet together they leave nothing: no payment, no
    promised payment, no pause could ever be taken."""
    monkeypatch.setenv(low, values[0])
    monkeypatch.setenv(high, values[1])
    message = f"{low} ({values[0]}) is above {high} ({values[1]})"
    with pytest.raises(RuntimeError, match=re.escape(message)):
        start(tmp_path)
    monkeypatch.setenv(high, values[0])  # equal bounds are a range of one
    assert start(tmp_path).config[high] == int(values[0])


def test_a_negative_block_threshold_is_a_debt_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_BLOCK_THRESHOLD", "-10000")
    assert start(tmp_path).config["PORTAL_BLOCK_THRESHOLD"] == -10000


def _production(key: str) -> dict:
    settings = config.default_config("/nonexistent")
    settings.update(PORTAL_MODE="production", SECRET_KEY=key)
    config.resolve_payments(settings)
    return settings
