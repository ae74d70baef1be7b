"""The simulated subscribers of bench/load.py: a locustfile (locust runs it; see there).

Each simulated subscriber signs in with an account of its own (LOAD_LOGIN_PREFIX and a
number below LOAD_ACCOUNTS, password LOAD_PASSWORD) and then, with LOAD_THINK seconds of
thought between steps (MIN-MAX, at random; 1-3), looks at the home page, the history,
the history's htmx fragment, the tariffs and the add-ons, and pays through the sandbox
acquirer now and then. It signs in once, as a person stays signed in for hours: one
sign-in costs about 0.25 s of CPU (argon2id at the library's cost, on purpose), so 200
subscribers signing out and in again every minute would be the whole load of two cores;
if a sign-in fails (a 502 when an instance died), it signs in again before its next
page. Each comes from an address of its own (X-Forwarded-For, which the nginx in front
believes from 127.0.0.1 only), as real subscribers do, so the per-address limits count
each one alone.

Every request is written to LOAD_EVENTS (one JSON list a line: the time it started, its
kind, milliseconds, whether it failed, and the status or error), from which load.py
makes its figures, split at the moment one instance was killed.
"""

import itertools
import json
import os
import random
import re
import time
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CREATION_KEY = re.compile(r'name="creation_key" type="hidden" value="([0-9a-f]{32})"')
CARD_SUCCEEDS = "4111 1111 1111 1111"  # the sandbox's card that always succeeds
SANDBOX_PAY = "/sandbox-acquirer/pay/"

_numbers = itertools.count()
_log = open(os.environ["LOAD_EVENTS"], "a", buffering=1)  # noqa: SIM115 (for the whole run)


@events.request.add_listener
def _record(request_type, name, response_time, response, exception, start_time=None, **_):
    status = str(exception)[:200] if exception else getattr(response, "status_code", 0)
    line = [start_time, name, round(response_time, 1), bool(exception), status]
    _log.write(json.dumps(line, ensure_ascii=False) + "\n")


def _note(name: str) -> None:
    """A step of a flow (not a request), counted by load.py."""
    _log.write(json.dumps([time.time(), name, 0, False, "flow"]) + "\n")


class Subscriber(HttpUser):
    wait_time = between(*(float(s) for s in os.environ.get("LOAD_THINK", "1-3").split("-")))

    def on_start(self):
        number = next(_numbers)
        self.login = f"{os.environ['LOAD_LOGIN_PREFIX']}{number % int(os.environ['LOAD_ACCOUNTS'])}"
        # Documentation addresses (RFC 5737 and 10/8), one per simulated subscriber.
        self.client.headers["X-Forwarded-For"] = (
            f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
        )
        self.client.headers["Accept-Language"] = "en"
        self.token = None
        self.signed_in = False
        self.sign_in()

    # -- steps --------------------------------------------------------------------------

    def expect(self, name, method, path, status, **kwargs):
        """One request of kind `name` that must answer `status` (one of them, if a
        tuple); its answer, or None."""
        wanted = status if isinstance(status, tuple) else (status,)
        with self.client.request(
            method, path, name=name, allow_redirects=False, catch_response=True, **kwargs
        ) as answer:
            if answer.status_code not in wanted:
                answer.failure(f"{answer.status_code}, expected {status}")
                if "/login" in answer.headers.get("Location", ""):
                    self.signed_in = False  # as a person would, sign in again next
                return None
            answer.success()  # a 409 that was expected is not locust's failure
            found = TOKEN.search(answer.text)
            if found:
                self.token = found.group(1)
            return answer

    def sign_in(self):
        if self.expect("GET /login", "GET", "/login", 200) is None:
            return
        form = {"login": self.login, "password": os.environ["LOAD_PASSWORD"]}
        form["csrf_token"] = self.token
        self.signed_in = self.expect("sign-in POST", "POST", "/login", 303, data=form) is not None

    def get_page(self, name, path, **kwargs):
        """A signed-in page; a subscriber whose sign-in failed (say, a 502 when an
        instance died) signs in again first, as a person would."""
        if not self.signed_in:
            self.sign_in()
        if self.signed_in:
            return self.expect(name, "GET", path, 200, **kwargs)
        return None

    @task(4)
    def home(self):
        self.get_page("home", "/")

    @task(2)
    def history(self):
        self.get_page("history", "/history/")

    @task(2)
    def history_fragment(self):
        self.get_page("htmx fragment", "/history/", headers={"HX-Request": "true"})

    @task(1)
    def tariffs(self):
        self.get_page("tariffs", "/tariffs/")

    @task(1)
    def addons(self):
        self.get_page("add-ons", "/services/")

    @task(2)
    def pay(self):
        """The Pay page, the sum, the acquirer's card page, the test card, and back to
        the portal's status page, which finishes the payment if the notification has
        not yet."""
        page = self.get_page("pay page", "/pay/")
        key = CREATION_KEY.search(page.text) if page is not None else None
        if key is None:
            return
        form = {
            "csrf_token": self.token,
            "creation_key": key.group(1),
            "method": "card",
            "amount": str(random.randint(100, 2000)),
        }
        started = self.expect("pay POST", "POST", "/pay/", 303, data=form)
        if started is None:
            # Lost on the way (a 502): the payer presses Pay again, on the same form. Its
            # creation key finds the payment the first press made, if it was made.
            started = self.expect("pay POST again", "POST", "/pay/", 303, data=form)
            if started is None:
                return
        acquirer = urlsplit(started.headers.get("Location", "")).path
        if not acquirer.startswith(SANDBOX_PAY):
            started.failure(f"sent to {acquirer!r}, not the sandbox")
            return
        _note("payment started")
        if self.expect("acquirer page", "GET", acquirer, 200) is None:
            return
        card = {"csrf_token": self.token, "card_number": CARD_SUCCEEDS}
        back = self.expect("acquirer card POST", "POST", acquirer, 303, data=card)
        if back is None:
            # Again, as the payer would: 303 to the portal, or 409 if the first one paid.
            again = self.expect("acquirer card POST again", "POST", acquirer, (303, 409), data=card)
            if again is None or again.status_code != 303:
                return
            back = again
        status = self.expect("payment status", "GET", urlsplit(back.headers["Location"]).path, 200)
        if status is not None and "Paid" in status.text:
            _note("payment shown paid")
