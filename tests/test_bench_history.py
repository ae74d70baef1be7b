"""bench/history.py on small accounts, on SQLite and PostgreSQL, so the benchmark keeps
working as the code changes; its figures are printed, never judged here."""

import os

import pytest

from bench import history as history_bench

CASES = {"first page", "deep page", "oldest page", "3 months, payments", "refunds (none)"}


def servers() -> list:
    """SQLite always; PostgreSQL where the tests have one."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server and os.environ.get("CI"):
        pytest.fail("TEST_DATABASE_URL is not set: CI must run the PostgreSQL tests")
    return [None, server] if server else [None]


def test_the_history_benchmark_measures_what_it_says(capsys):
    for server in servers():
        # The deep page is 30 "more" links down: the small account needs ~1,000 entries.
        ratios = history_bench.measure(server, small=1_000, large=3_000, rounds=1)
        assert set(ratios) == CASES
        assert all(ratio > 0 for ratio in ratios.values())
        printed = capsys.readouterr().out
        assert "large: 3,000 entries" in printed
        for case in CASES:
            assert f"== large: {case} (" in printed, case
        if server is None:  # SQLite takes the index at any size (PostgreSQL scans a tiny table)
            assert (
                "USING INDEX ix_ledger_entries_account_rare_kind_id (account_id=? AND kind=?)"
                in (printed)
            )
