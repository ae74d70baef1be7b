"""bench/scale.py on a few hundred subscribers (PostgreSQL: it runs nowhere else), so the
benchmark keeps working as the code changes; its figures are printed, never judged here."""

import os

import pytest

from bench import scale


def test_the_scale_benchmark_measures_what_it_says(capsys):
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL is not set: CI must run the PostgreSQL tests")
        pytest.skip("the scale benchmark needs PostgreSQL")
    figures = scale.measure(server, subscribers=300, entries=5, rounds=1)
    assert set(figures) == {
        "home page, ms",
        "history first page, ms",
        "billing day, s per 1,000",
    }
    assert all(value > 0 for value in figures.values())
    printed = capsys.readouterr().out
    assert "built 300 subscribers and 1,800 ledger entries" in printed
    assert "== /history/:" in printed and "Index Scan" in printed
    assert "UNINDEXED" not in printed
