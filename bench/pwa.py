"""The app shell's performance budget, measured in headless Chromium with a phone's screen.

Starts the demo itself (tools/demo_server.py) behind a byte-counting proxy, then prints:

- bytes on the wire for the first load of the sign-in page and of the home page
  (goal: under 50 KB together, compressed, and no request to any third party);
- the same for a repeat visit (goal: no static file from the network: all come from
  the service worker);
- Lighthouse's performance, accessibility, best-practices and SEO scores for both pages
  (mobile; goal: performance >= 95, the other three 100), and on the last line the
  scores with the first-load kilobytes.

A benchmark, not a test: it reports and never fails on a figure. Run it with

    npm ci --prefix bench          # Lighthouse 12.2.3, pinned in bench/package-lock.json
    .venv/bin/python bench/pwa.py  # needs Debian's Chromium at /usr/bin/chromium

Bytes are counted on the wire by the proxy (headers included), so nothing the browser
fetches escapes the count: the service worker's precache and the browser's own manifest
and icon fetches are part of a first visit too.
"""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: tools/ is beside bench/

from playwright.sync_api import sync_playwright  # noqa: E402

from tools.browser import CHROMIUM, CHROMIUM_FLAGS, PHONE, wait_for_service_worker  # noqa: E402
from tools.demo_server import free_port, running_demo  # noqa: E402

LIGHTHOUSE = ROOT / "bench" / "node_modules" / ".bin" / "lighthouse"
OUT = ROOT / "bench" / "out"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
STATIC = re.compile(r"^/(static/|brand\.css|manifest\.json)")
REQUEST_LINE = re.compile(rb"(GET|POST|HEAD|PUT|PATCH|DELETE|OPTIONS) (\S+) HTTP/1\.[01]\r\n")
QUIET_SECONDS = 1.0


# --- the proxy that counts ------------------------------------------------------------


@dataclass
class Traffic:
    """What went over the wire in one phase: bytes to the browser, and the requests."""

    received: int = 0
    requests: list[str] = field(default_factory=list)


class CountingProxy:
    """A TCP proxy in front of the demo: every byte the browser receives passes here.

    A request line is read from the stream the browser sends (HTTP/1.1 to a local
    server: plain text), so the phase knows which URLs reached the network."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.traffic = Traffic()
        self.last_activity = time.monotonic()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, from_browser: bool) -> None:
        pending = b""
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
                with self._lock:
                    self.last_activity = time.monotonic()
                    if from_browser:
                        pending = self._note_requests(pending + chunk)
                    else:
                        self.traffic.received += len(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def _note_requests(self, data: bytes) -> bytes:
        """Record the request lines in `data`; keep its unfinished last line for later."""
        for match in REQUEST_LINE.finditer(data):
            self.traffic.requests.append(f"{match[1].decode()} {match[2].decode()}")
        return data[data.rfind(b"\n") + 1 :][-2048:]

    def wait_until_quiet(self) -> None:
        """Until nothing has moved for a while: the worker's precache, the browser's own
        fetches of the manifest and icons are done."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self._lock:
                idle = time.monotonic() - self.last_activity
            if idle >= QUIET_SECONDS:
                return
            time.sleep(0.1)

    @contextmanager
    def phase(self):
        """Count one phase: what happens inside the block, until the wire is quiet."""
        self.wait_until_quiet()
        with self._lock:
            self.traffic = Traffic()
        measured = self.traffic
        yield measured
        self.wait_until_quiet()

    def close(self) -> None:
        self._listener.close()


# --- the browser journeys ----------------------------------------------------------------


def sign_in(page, demo, base: str) -> None:
    page.fill("#login", demo.login)
    page.fill("#password", demo.password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(base + "/")
    page.wait_for_load_state("load")


def measure_visits(demo, proxy: CountingProxy) -> dict[str, Traffic]:
    """First and repeat visit of the sign-in page and the home page, on a phone."""
    results = {}
    hosts = set()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(**PHONE, locale="ru-RU")
        context.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
        page = context.new_page()

        with proxy.phase() as results["first sign-in page"]:
            page.goto(proxy.url + "/login", wait_until="load")
            wait_for_service_worker(page)
        with proxy.phase() as results["first home page"]:
            sign_in(page, demo, proxy.url)

        # A returning subscriber whose session ended: the worker and its cache stay.
        context.clear_cookies()
        with proxy.phase() as results["repeat sign-in page"]:
            page.goto(proxy.url + "/login", wait_until="load")
        with proxy.phase() as results["repeat home page"]:
            sign_in(page, demo, proxy.url)
        browser.close()
    results["third-party hosts"] = sorted(hosts - {urlsplit(proxy.url).netloc})
    return results


# --- Lighthouse ------------------------------------------------------------------------


def session_cookie(demo) -> str:
    """Sign in over plain HTTP, as the form does, for Lighthouse to load the home page."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(demo.url + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    form = {"login": demo.login, "password": demo.password, "csrf_token": token}
    opener.open(demo.url + "/login", data=urllib.parse.urlencode(form).encode(), timeout=10)
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def lighthouse(url: str, name: str, cookie: str | None = None) -> dict[str, int]:
    """Lighthouse's four category scores (0-100) for `url` on a simulated mobile phone."""
    OUT.mkdir(parents=True, exist_ok=True)
    report = OUT / f"lighthouse-{name}.json"
    command = [
        str(LIGHTHOUSE),
        url,
        "--chrome-flags=" + " ".join(CHROMIUM_FLAGS),
        "--only-categories=" + ",".join(CATEGORIES),
        "--form-factor=mobile",
        "--output=json",
        f"--output-path={report}",
        "--quiet",
    ]
    if cookie:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    env = os.environ | {"CHROME_PATH": CHROMIUM}
    subprocess.run(command, env=env, check=True, timeout=300)
    data = json.loads(report.read_text())
    if data.get("runtimeError"):
        raise RuntimeError(f"Lighthouse on {url}: {data['runtimeError']}")
    return {key: round(data["categories"][key]["score"] * 100) for key in CATEGORIES}


# --- the report ------------------------------------------------------------------------


def kb(amount: int) -> str:
    return f"{amount / 1024:.1f} KB"


def describe(name: str, traffic: Traffic) -> str:
    static = [r for r in traffic.requests if STATIC.match(r.split(" ", 1)[1])]
    return (
        f"{name}: {kb(traffic.received)} in {len(traffic.requests)} "
        f"request{'' if len(traffic.requests) == 1 else 's'}, "
        f"{len(static)} of them static files"
        + (f" ({', '.join(static)})" if static else "")
        + f"\n    requests: {', '.join(traffic.requests)}"
    )


def scores(values: dict[str, int]) -> str:
    return "/".join(str(values[key]) for key in CATEGORIES)


def main() -> None:
    if not Path(CHROMIUM).exists():
        sys.exit(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    if not LIGHTHOUSE.exists():
        sys.exit("Lighthouse is not installed: npm ci --prefix bench")
    with tempfile.TemporaryDirectory() as folder, running_demo(Path(folder)) as demo:
        proxy = CountingProxy(int(demo.url.rsplit(":", 1)[1]))
        try:
            visits = measure_visits(demo, proxy)
        finally:
            proxy.close()
        first = visits["first sign-in page"].received + visits["first home page"].received
        repeat = visits["repeat sign-in page"].received + visits["repeat home page"].received
        for name in ("first sign-in page", "first home page"):
            print(describe(name, visits[name]))
        print(f"first load, both pages: {kb(first)} (goal: under 50 KB)")
        for name in ("repeat sign-in page", "repeat home page"):
            print(describe(name, visits[name]))
        print(f"repeat visit, both pages: {kb(repeat)} (goal: no static file from the network)")
        third = visits["third-party hosts"]
        print(f"third-party hosts: {', '.join(third) if third else 'none'}")

        sign_in_scores = lighthouse(demo.url + "/login", "sign-in")
        home_scores = lighthouse(demo.url + "/", "home", cookie=session_cookie(demo))
        for name, values in (("sign-in page", sign_in_scores), ("home page", home_scores)):
            listed = ", ".join(f"{key} {values[key]}" for key in CATEGORIES)
            print(f"lighthouse {name} (mobile): {listed}")
        print(
            "lighthouse mobile performance/accessibility/best-practices/seo: "
            f"sign-in {scores(sign_in_scores)}, home {scores(home_scores)}; "
            f"first load {kb(first)}"
        )


if __name__ == "__main__":
    main()
