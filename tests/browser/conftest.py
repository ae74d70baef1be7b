"""Browser tests: Playwright (pytest-playwright) drives Debian's Chromium against the demo
served by a real server in a child process, with its own SQLite file and demo data.

Without Chromium the tests skip, saying why; in CI (CI set) a missing browser fails them
instead, so they can never silently stop running there. .ci/run installs Chromium.
"""

import os
from pathlib import Path

import pytest

from portal.domain.push import keys
from tests.browser.helpers import SCREENS
from tools.browser import CHROMIUM, CHROMIUM_FLAGS
from tools.demo_server import running_demo


def chromium_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set PORTAL_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(reason + ": CI must run the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """pytest-playwright's launch options: Debian's Chromium, never a downloaded one."""
    return {"executable_path": chromium_or_skip(), "args": CHROMIUM_FLAGS, "headless": True}


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The demo portal in a child process: its URL and the sign-in it printed."""
    # Push on, with keys of the session's own: the opt-in prompt is drawn where it belongs.
    vapid_key = keys.generate()["private_key"]
    with running_demo(
        tmp_path_factory.mktemp("demo"), PORTAL_VAPID_PRIVATE_KEY=vapid_key
    ) as server:
        yield server


@pytest.fixture(scope="session")
def browser_context_args(demo):
    """Every context: the demo's address, Russian like the subscribers, their time zone."""
    return {"base_url": demo.url, "locale": "ru-RU", "timezone_id": "Europe/Simferopol"}


@pytest.fixture(params=list(SCREENS))
def screen(request) -> str:
    """Each test runs on a phone and on a desktop, unless it narrows this down with
    @pytest.mark.parametrize("screen", ["phone"], indirect=True)."""
    return request.param


@pytest.fixture
def context(new_context, screen):
    return new_context(**SCREENS[screen])
