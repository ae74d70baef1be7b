"""The history as a CSV file for a spreadsheet: UTF-8 with a BOM (so Excel on Windows
reads Cyrillic), `;` between cells and sums with a decimal comma (as Russian spreadsheets
expect), and no cell that a spreadsheet could run as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask_babel import gettext as _

from portal import clock
from portal.domain import history
from portal.models import LedgerEntry
from portal.web.filters import entry_kind
from portal.web.history import texts

BOM = "\ufeff"
CHUNK = 16 * 1024  # characters sent at a time
# What makes a spreadsheet read a cell as a formula (or, for tab and CR, hide it).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """Text from people (a description, a correction's reason) as a cell that stays
    text: one that starts like a formula gets an apostrophe in front."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def sum_cell(kopecks: int) -> str:
    """A sum as a spreadsheet number: -16,00 or 1100,00 (digits, a comma, two digits:
    nothing a spreadsheet could run)."""
    sign = "-" if kopecks < 0 else ""
    whole, part = divmod(abs(kopecks), 100)
    return f"{sign}{whole},{part:02d}"


def header() -> list[str]:
    return [
        _("Date and time"),
        _("Kind"),
        _("Description"),
        _("For the day"),
        _("Sum, ₽"),
        _("Balance after, ₽"),
        _("Receipt"),
    ]


def row(entry: LedgerEntry, tz: str) -> list[str]:
    booked = clock.to_local(entry.created_at, tz)
    return [
        booked.strftime("%d.%m.%Y %H:%M"),
        entry_kind(entry.kind),
        text_cell(texts.one_cell(history.Entry.of(entry))),
        entry.service_date.strftime("%d.%m.%Y") if entry.service_date else "",
        sum_cell(entry.amount),
        sum_cell(entry.balance_after),
        str(entry.receipt.id) if entry.receipt is not None else "",
    ]


def lines(entries: Iterable[LedgerEntry], tz: str) -> Iterator[str]:
    """The file, a line at a time (a long history is streamed, never held whole)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(header())
    yield BOM + take()
    for entry in entries:
        writer.writerow(row(entry, tz))
        if buffer.tell() >= CHUNK:
            yield take()
    yield take()
