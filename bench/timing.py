"""How long sign-in and recovery answers take in each branch, to check that timing does
not tell an attacker whether a login, a contract or a pending recovery exists.

    .venv/bin/python bench/timing.py [--rounds 40]

Runs the app in-process on a temporary SQLite database (throttling off) and prints the
median and spread of each case in milliseconds, and the ratio of each median to the
first one of its group. Equal work in every branch shows as ratios near 1.00.
"""

import argparse
import re
import statistics
import tempfile
import time

from flask_migrate import upgrade

from portal import create_app
from portal.domain import subscribers
from portal.extensions import db

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def make_app(folder: str):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "SECRET_KEY": "bench",
            "PORTAL_MODE": "development",
            "RATELIMIT_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
        }
    )
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        for n, login in enumerate(["known", "pending"]):
            subscribers.create_subscriber(
                db.session,
                contract_number=f"70{n}",
                login=login,
                name="Bench",
                phone=f"+7978000000{n}",
                password="the-right-password",
            )
        db.session.commit()
    return app


def timed_post(client, path: str, data: dict) -> float:
    token = TOKEN.search(client.get(path).get_data(as_text=True)).group(1)
    started = time.perf_counter()
    client.post(path, data=data | {"csrf_token": token})
    return (time.perf_counter() - started) * 1000


def measure(app, cases: dict, path: str, rounds: int) -> dict:
    client = app.test_client()
    samples = {name: [] for name in cases}
    for _ in range(rounds):  # interleaved, so drift in machine load hits every case alike
        for name, data in cases.items():
            samples[name].append(timed_post(client, path, data))
    return samples


def report(title: str, samples: dict) -> None:
    print(title)
    first = None
    for name, values in samples.items():
        median = statistics.median(values)
        first = first or median
        q = statistics.quantiles(values, n=10)
        print(
            f"  {name:<34} median {median:7.1f} ms  p10 {q[0]:7.1f}  p90 {q[-1]:7.1f}"
            f"  ratio {median / first:5.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(folder)
        client = app.test_client()
        timed_post(
            client, "/recover", {"contract": "701", "phone": "+79780000001", "send_sms": "y"}
        )  # "pending" now has a secret
        sign_in = measure(
            app,
            {
                "wrong password": {"login": "known", "password": "wrong-password"},
                "unknown login": {"login": "nobody", "password": "wrong-password"},
                "wrong password, recovery pending": {"login": "pending", "password": "wrong"},
            },
            "/login",
            rounds,
        )
        report("sign-in failures (POST /login):", sign_in)
        recover = measure(
            app,
            {
                "contract and phone match": {
                    "contract": "700",
                    "phone": "+79780000000",
                    "send_sms": "y",
                },
                "phone does not match": {
                    "contract": "700",
                    "phone": "+79780009999",
                    "send_sms": "y",
                },
                "unknown contract": {"contract": "999", "phone": "+79780000000", "send_sms": "y"},
            },
            "/recover",
            rounds,
        )
        report("recovery requests (POST /recover):", recover)


if __name__ == "__main__":
    main()
