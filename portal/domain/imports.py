"""Importing subscribers from the provider's billing system: a CSV export, checked in a
dry run, then written by a background job, idempotently.

- `read(data)` decodes the file (UTF-8 with or without a BOM, else Windows-1251), finds
  the delimiter (`;` or `,`) and maps the header onto our columns, in Russian or English;
  a file that cannot be read is a `FileProblem` with a code the page translates.
- `check(...)` is the dry run: every row's verdict (create, update, unchanged, refuse,
  skip) and its reason, stored with the rows, so any process or worker can run it.
- `run(...)` is the real run (the job `run_job` calls it): the rows again against the
  database as it is then, in batches, with set-based lookups loaded once and inserts in
  bulk, a commit per batch; it resumes where a broken-off run stopped. The same file
  twice changes nothing: an account whose details match is "unchanged".
- `print_sheets(...)`: new subscribers are created with no usable password; their
  passwords are made, hashed and shown when the member who ran the import prints their
  credentials sheets, each sheet once. So no password exists, even sealed, before the
  sheet is printed, and the import itself spends no time hashing (argon2 costs tens of
  milliseconds a password: 50,000 of them would take most of an hour).

What an import may change on an existing contract: the holder's name and phone, the
account's address and district. Never the login, the password, the balance, the tariffs
or the add-ons (a tariff change has its own rules and charges). A new contract may hold
only tariffs and add-ons that are offered: an archived one's code is refused for it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, subscribers
from portal.domain.auth import credentials
from portal.domain.billing import charges
from portal.domain.errors import DomainError, DuplicateContract, InvalidInput, NotFound
from portal.models import (
    Account,
    AuditEvent,
    ImportRow,
    ImportState,
    Person,
    RowOutcome,
    Service,
    SubscriberImport,
    Subscription,
    Tariff,
    TariffKind,
)

MAX_BYTES = 10 * 1024 * 1024  # the default of PORTAL_IMPORT_MAX_BYTES
BATCH = 1000  # rows written per transaction by the real run
SHEETS_AT_ONCE = 50  # credentials sheets printed per take (each one hashes a password)
CELL_MAX = 300  # the longest value a column holds (an address)
CELL_KEPT = 1000
# Rows per multi-row INSERT: short enough statements that psycopg parses one once and
# reuses it (it caches only short ones); a page of 1,000 rows cost more to parse than
# to run.
_PAGES = {
    "insertmanyvalues_page_size": 40
}  # a longer cell is kept cut to this, for the error report

# Our columns and the names a billing system's export may give them (compared in lower
# case, "ё" as "е", spaces squeezed).
COLUMNS: dict[str, tuple[str, ...]] = {
    "contract": ("contract", "contract number", "договор", "номер договора", "№ договора"),
    "name": ("name", "full name", "фио", "ф.и.о.", "абонент"),
    "phone": ("phone", "mobile", "mobile phone", "телефон", "мобильный телефон"),
    "address": ("address", "адрес"),
    "district": ("district", "район"),
    "tariffs": ("tariffs", "tariff", "тарифы", "тариф"),
    "addons": ("addons", "add-ons", "services", "услуги", "доп. услуги"),
    "login": ("login", "логин"),
}
REQUIRED = ("contract", "name", "phone", "address", "district")
# What an import may change on an existing contract (and in this order in Known.accounts).
UPDATABLE = ("name", "phone", "address", "district")
_NAMES = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}
_CODES_SPLIT = re.compile(r"[\s|,;]+")
# Excel's "sep=;" before the header names the delimiter; the header says it as well. The
# line stays, empty, so that line numbers are the file's.
_SEP_HINT = re.compile(r"\A[ \t]*sep=[;,][ \t]*(?=\r|\n|\Z)", re.IGNORECASE)
# Control characters (Unicode's category Cc) and the stand-in for undecodable bytes.
_UNREADABLE = re.compile("[\x00-\x1f\x7f-\x9f\ufffd]")
# What InvalidInput from subscribers.check_details starts with -> our reason.
_DETAIL_REASONS = {
    "contract number": "contract",
    "login": "login",
    "name": "too_long",
    "address": "too_long",
    "district": "too_long",
    "phone": "phone",
}


class FileProblem(DomainError):
    """The file cannot be imported at all; `code` says why, `names` what it is about
    (e.g. the unknown columns)."""

    def __init__(self, code: str, names: Iterable[str] = ()):
        super().__init__(code)
        self.code = code
        self.names = tuple(names)


@dataclass(frozen=True)
class ParsedFile:
    encoding: str  # "utf-8" or "cp1251"
    delimiter: str
    header: list[str]  # as written in the file
    columns: list[str]  # our column of each header cell
    rows: list[tuple[int, list[str]]]  # (line number, cells) after the header


# --- reading the file ----------------------------------------------------------------


def read(data: bytes, *, max_bytes: int = MAX_BYTES) -> ParsedFile:
    """The rows of an uploaded CSV, or FileProblem saying why it cannot be read."""
    if len(data) > max_bytes:
        raise FileProblem("too_big")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise FileProblem("empty")
    if _looks_binary(data):
        raise FileProblem("binary")
    encoding, text = _decode(data)
    text = _SEP_HINT.sub("", text, count=1)
    records = _records(text)
    header_line, header = next(((n, cells) for n, cells in records if _filled(cells)), (0, []))
    # A sheet saved with one more (empty) column ends every line with a delimiter: a
    # nameless last column is no column (a row's cells past the named ones must be empty).
    while header and not header[-1].strip():
        header = header[:-1]
    delimiter = _delimiter(text)
    columns = [_NAMES.get(_name_key(name), "") for name in header]
    if not any(columns):
        raise FileProblem("no_header")
    # A nameless column between named ones may hold anything: which, the operator says.
    unnamed = [str(n) for n, name in enumerate(header, start=1) if not name.strip()]
    if unnamed:
        raise FileProblem("unnamed_columns", unnamed)
    unknown = [name.strip() for name, column in zip(header, columns, strict=True) if not column]
    if unknown:
        raise FileProblem("unknown_columns", unknown)
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise FileProblem("repeated_columns", repeated)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FileProblem("missing_columns", missing)
    rows = [(n, cells) for n, cells in records if n > header_line]
    return ParsedFile(encoding, delimiter, [h.strip() for h in header], columns, rows)


def column_index(header: list[str], column: str) -> int | None:
    """Where our `column` is in a file's header."""
    for index, name in enumerate(header):
        if _NAMES.get(_name_key(name)) == column:
            return index
    return None


def _looks_binary(data: bytes) -> bool:
    """NUL bytes, or control characters a text export never holds."""
    sample = data[:65536]
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 13))
    return b"\x00" in sample or controls > len(sample) // 100


def _decode(data: bytes) -> tuple[str, str]:
    """UTF-8 when the file is, or when most of its lines that are not plain ASCII are (a
    line pasted in another encoding is then unreadable and its row refused); else
    Windows-1251."""
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    good = bad = 0
    for line in data.splitlines():
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    if good > bad:
        return "utf-8", data.decode("utf-8", errors="replace")
    return "cp1251", data.decode("cp1251", errors="replace")


def _delimiter(text: str) -> str:
    """`;` or `,`, whichever the header line holds more of."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if first.count(";") >= first.count(",") else ","


def _records(text: str) -> list[tuple[int, list[str]]]:
    """The CSV records with the line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    records, line = [], 1
    try:
        for cells in reader:
            records.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise FileProblem("malformed", [str(line)]) from exc
    return records


def _name_key(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").lower().replace("ё", "е").split())


def _filled(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


# --- the verdict on one row ----------------------------------------------------------


@dataclass
class Known:
    """What the database holds, loaded once per run: set-based lookups, not a query a row."""

    tariffs: dict[str, tuple[int, TariffKind, bool]]  # code in lower case -> id, kind, archived
    services: dict[str, tuple[int, bool]]  # code in lower case -> id, archived
    districts: dict[str, str]  # lower case -> as configured
    # contract -> (account id, person id, name, phone, address, district)
    accounts: dict[str, tuple]
    contracts: set[str]  # contract numbers and personal accounts
    logins: set[str]  # in lower case
    seen: dict[str, int] = field(default_factory=dict)  # contract -> its first line here

    @classmethod
    def load(cls, db: Session, districts: Iterable[str]) -> Known:
        accounts = {
            row[0]: row[1:]
            for row in db.execute(
                sa.select(
                    Account.contract_number,
                    Account.id,
                    Account.person_id,
                    Person.name,
                    Person.phone,
                    Account.address,
                    Account.district,
                ).join(Person, Person.id == Account.person_id)
            )
        }
        personal = set(db.scalars(sa.select(Account.personal_account)))
        return cls(
            tariffs={
                code.lower(): (id_, kind, archived)
                for id_, code, kind, archived in db.execute(
                    sa.select(Tariff.id, Tariff.code, Tariff.kind, Tariff.archived_at.is_not(None))
                )
            },
            services={
                code.lower(): (id_, archived)
                for id_, code, archived in db.execute(
                    sa.select(Service.id, Service.code, Service.archived_at.is_not(None))
                )
            },
            districts={d.lower(): d for d in districts},
            accounts=accounts,
            contracts=set(accounts) | personal,
            logins={login.lower() for login in db.scalars(sa.select(Person.login))},
        )


@dataclass
class Verdict:
    outcome: RowOutcome
    reason: str | None = None
    detail: str | None = None
    details: subscribers.Details | None = None
    tariff_ids: list[int] = field(default_factory=list)
    service_ids: list[int] = field(default_factory=list)
    # The codes as the file names them, for the audit.
    tariff_codes: list[str] = field(default_factory=list)
    service_codes: list[str] = field(default_factory=list)
    existing: tuple | None = None  # Known.accounts' row of the contract
    changed: tuple[str, ...] = ()


def _refuse(reason: str, detail: object = None) -> Verdict:
    return Verdict(RowOutcome.REFUSE, reason, None if detail is None else str(detail)[:100])


def judge(columns: list[str], cells: list[str], line: int, known: Known) -> Verdict:
    """What importing one row would do, and why; notes its contract and login in `known`
    as taken, so that later rows of the file see them."""
    if not _filled(cells):
        return Verdict(RowOutcome.SKIP)
    if len(cells) > len(columns) and _filled(cells[len(columns) :]):
        return _refuse("cells", len(cells))
    value = dict(zip(columns, [c.strip() for c in cells] + [""] * len(columns), strict=False))
    contract = value["contract"]
    if contract:
        first = known.seen.setdefault(contract, line)
        if first != line:
            return _refuse("duplicate", first)
    for column in columns:
        text = value[column]
        if len(text) > CELL_MAX:
            return _refuse("too_long", column)
        if _UNREADABLE.search(text):
            return _refuse("unreadable", column)
    for column in REQUIRED:
        if not value[column]:
            return _refuse("missing", column)
    district = known.districts.get(value["district"].lower())
    if district is None:
        return _refuse("district", value["district"])
    try:
        details = subscribers.check_details(
            contract_number=contract,
            name=value["name"],
            phone=value["phone"],
            login=value.get("login") or None,
            address=value["address"],
            district=district,
        )
    except InvalidInput as exc:
        prefix = str(exc).split(":", 1)[0]
        return _refuse(_DETAIL_REASONS.get(prefix, "contract"), prefix.split()[0])
    verdict = Verdict(RowOutcome.CREATE, details=details)
    kinds: set[TariffKind] = set()
    archived: tuple[str, str] | None = None  # the first archived code: refused for a new contract
    for code in _codes(value.get("tariffs", "")):
        if code.lower() not in known.tariffs:
            return _refuse("tariff", code)
        tariff_id, kind, is_archived = known.tariffs[code.lower()]
        if kind in kinds:
            return _refuse("two_tariffs", kind.value)
        kinds.add(kind)
        verdict.tariff_ids.append(tariff_id)
        verdict.tariff_codes.append(code)
        archived = archived or (("tariff_archived", code) if is_archived else None)
    for code in _codes(value.get("addons", "")):
        if code.lower() not in known.services:
            return _refuse("addon", code)
        service_id, is_archived = known.services[code.lower()]
        verdict.service_ids.append(service_id)
        verdict.service_codes.append(code)
        archived = archived or (("addon_archived", code) if is_archived else None)
    existing = known.accounts.get(details.contract_number)
    if existing is not None:
        pairs = zip(UPDATABLE, existing[2:], _updatable(details), strict=True)
        changed = tuple(name for name, old, new in pairs if old != new)
        verdict.existing, verdict.changed = existing, changed
        verdict.outcome = RowOutcome.UPDATE if changed else RowOutcome.UNCHANGED
        verdict.detail = ",".join(changed) or None
        return verdict
    # A new contract gets only what is offered; an existing one keeps what it has (an
    # import never changes tariffs), so its archived tariff is no reason to refuse it.
    if archived is not None:
        return _refuse(*archived)
    refusal = subscribers.taken(
        details.contract_number,
        details.login,
        is_contract=known.contracts.__contains__,
        is_login=lambda login: login.lower() in known.logins,
    )
    if refusal is not None:
        reason = "contract_taken" if isinstance(refusal, DuplicateContract) else "login_taken"
        return _refuse(reason, str(refusal))
    known.contracts.add(details.contract_number)
    known.logins.add(details.login.lower())
    return verdict


def _updatable(details: subscribers.Details) -> tuple[str, ...]:
    return (details.name, details.phone, details.address, details.district)


def _codes(text: str) -> list[str]:
    return list(dict.fromkeys(code for code in _CODES_SPLIT.split(text) if code))


# --- the dry run ---------------------------------------------------------------------


def check(
    db: Session,
    parsed: ParsedFile,
    *,
    staff_id: int,
    file_name: str,
    districts: Iterable[str],
) -> SubscriberImport:
    """The dry run: the file's rows and their verdicts stored, nothing else written."""
    known = Known.load(db, districts)
    batch = SubscriberImport(
        staff_id=staff_id,
        # The browser's name for the file, a label: without control characters (a
        # forged one may hold a NUL, which PostgreSQL does not store).
        file_name=(_UNREADABLE.sub("", file_name or "") or "import.csv")[:200],
        encoding=parsed.encoding,
        delimiter=parsed.delimiter,
        header=parsed.header,
        state=ImportState.CHECKED,
        created_at=clock.now(),
        rows_total=len(parsed.rows),
    )
    db.add(batch)
    db.flush()
    rows = []
    for line, cells in parsed.rows:
        verdict = judge(parsed.columns, cells, line, known)
        rows.append(
            {
                "import_id": batch.id,
                "line": line,
                "cells": [cell[:CELL_KEPT] for cell in cells],
                "planned": verdict.outcome,
                "reason": verdict.reason,
                "detail": verdict.detail,
            }
        )
    for start in range(0, len(rows), BATCH):
        db.execute(sa.insert(ImportRow).execution_options(**_PAGES), rows[start : start + BATCH])
    return batch


def planned_counts(db: Session, import_id: int) -> dict[RowOutcome, int]:
    """How many rows the dry run found of each kind."""
    counts = dict.fromkeys(RowOutcome, 0)
    query = (
        sa.select(ImportRow.planned, sa.func.count())
        .where(ImportRow.import_id == import_id)
        .group_by(ImportRow.planned)
    )
    counts.update({outcome: n for outcome, n in db.execute(query)})
    return counts


def rows_of(
    db: Session, import_id: int, outcomes: Iterable[RowOutcome], *, real: bool, limit: int | None
) -> list[ImportRow]:
    """The rows with one of the outcomes (the real run's, or the dry run's), in order."""
    column = ImportRow.outcome if real else ImportRow.planned
    query = (
        sa.select(ImportRow)
        .where(ImportRow.import_id == import_id, column.in_(list(outcomes)))
        .order_by(ImportRow.line)
        .limit(limit)
    )
    return list(db.scalars(query))


def of_member(db: Session, import_id: int, staff_id: int | None = None) -> SubscriberImport:
    """An import; with `staff_id`, only the one that member started."""
    batch = db.get(SubscriberImport, import_id)
    if batch is None or (staff_id is not None and batch.staff_id != staff_id):
        raise NotFound("import")
    return batch


def latest(db: Session, limit: int = 20) -> list[SubscriberImport]:
    query = sa.select(SubscriberImport).order_by(SubscriberImport.id.desc()).limit(limit)
    return list(db.scalars(query))


# --- the real run --------------------------------------------------------------------


def start(db: Session, import_id: int, *, actor: str, address: str | None = None) -> bool:
    """Ask for the real run of a checked import (or the rest of a broken-off one); False
    when it is asked for already. The caller enqueues `run_job` after the commit."""
    state = db.scalar(sa.select(SubscriberImport.state).where(SubscriberImport.id == import_id))
    moved = db.execute(
        sa.update(SubscriberImport)
        .where(
            SubscriberImport.id == import_id,
            SubscriberImport.state.in_([ImportState.CHECKED, ImportState.FAILED]),
        )
        .values(state=ImportState.QUEUED, error=None, touched_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    audit.record(
        db,
        "subscribers.import_started",
        actor=actor,
        address=address,
        id=import_id,
        **audit.changes({"state": state.value}, {"state": ImportState.QUEUED.value}),
    )
    return True


def run_job(db: Session, config, import_id: int) -> None:
    """The job (portal.jobs) that runs an import."""
    run(
        db,
        import_id,
        districts=config["PORTAL_DISTRICTS"],
        today=clock.local_today(config["PORTAL_TIMEZONE"]),
    )


# A run that wrote nothing for this long is taken to be lost (a batch takes seconds).
STALE_AFTER = timedelta(minutes=5)


def sweep_job(db: Session, config) -> None:
    """The sweep (portal.jobs): an import left queued or running for long, its job lost
    with a restart, is queued again and its job enqueued; it resumes where it stopped."""
    from portal import jobs

    stale = clock.now() - STALE_AFTER
    lost = list(
        db.scalars(
            sa.select(SubscriberImport.id).where(
                SubscriberImport.state.in_([ImportState.QUEUED, ImportState.RUNNING]),
                SubscriberImport.touched_at < stale,
            )
        )
    )
    for import_id in lost:
        moved = db.execute(
            sa.update(SubscriberImport)
            .where(
                SubscriberImport.id == import_id,
                SubscriberImport.state.in_([ImportState.QUEUED, ImportState.RUNNING]),
                SubscriberImport.touched_at < stale,
            )
            .values(state=ImportState.QUEUED, touched_at=clock.now())
            .execution_options(synchronize_session=False)
        )
        db.commit()
        if moved.rowcount == 1:
            jobs.enqueue(run_job, import_id)


def run(
    db: Session,
    import_id: int,
    *,
    districts: Iterable[str],
    today: date,
    batch_size: int = BATCH,
) -> SubscriberImport | None:
    """The real run of a queued import, batch by batch, a commit each; None when it is not
    queued (a second job for it, or it is done). Rows a broken-off run did are kept."""
    claimed = db.execute(
        sa.update(SubscriberImport)
        .where(SubscriberImport.id == import_id, SubscriberImport.state == ImportState.QUEUED)
        .values(state=ImportState.RUNNING, started_at=clock.now(), touched_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.commit()
    if claimed.rowcount != 1:
        return None
    batch = db.get(SubscriberImport, import_id, populate_existing=True)
    districts = tuple(districts)
    try:
        _run_rows(db, batch, districts, batch_size, today)
    except Exception as exc:
        db.rollback()
        batch = db.get(SubscriberImport, import_id, populate_existing=True)
        batch.state = ImportState.FAILED
        batch.error = type(exc).__name__
        db.commit()
        raise
    batch.state = ImportState.DONE
    batch.finished_at = clock.now()
    audit.record(
        db,
        "subscribers.imported",
        actor=audit.staff_actor(batch.staff_id),
        id=batch.id,
        file=batch.file_name,
        rows=batch.rows_total,
        created=batch.created,
        updated=batch.updated,
        unchanged=batch.unchanged,
        refused=batch.refused,
        skipped=batch.skipped,
        **audit.changes({"state": ImportState.RUNNING.value}, {"state": ImportState.DONE.value}),
    )
    db.commit()
    return batch


def _run_rows(
    db: Session, batch: SubscriberImport, districts: tuple, size: int, today: date
) -> None:
    columns = [_NAMES.get(_name_key(name), "") for name in batch.header]
    known = Known.load(db, districts)
    for rows in _chunks(db, batch.id, size):
        todo = [row for row in rows if row[3] is None]
        # Every row goes through judge (a later duplicate must see an earlier contract);
        # rows a broken-off run did are not written again.
        verdicts = [judge(columns, cells, line, known) for _id, line, cells, _done in rows]
        if not todo:
            continue
        try:
            _write(db, batch, rows, verdicts, today)
            db.commit()
        except IntegrityError:
            # Someone took a contract or login since the lookups were loaded: load them
            # again and judge this batch once more.
            db.rollback()
            known = Known.load(db, districts)
            known.seen = {}
            for _id, line, cells, _done in _all_rows_before(db, batch.id, rows[0][1]):
                judge(columns, cells, line, known)
            verdicts = [judge(columns, cells, line, known) for _id, line, cells, _done in rows]
            _write(db, batch, rows, verdicts, today)
            db.commit()


def _chunks(db: Session, import_id: int, size: int) -> Iterator[list[tuple]]:
    last = 0
    while True:
        rows = db.execute(
            sa.select(ImportRow.id, ImportRow.line, ImportRow.cells, ImportRow.outcome)
            .where(ImportRow.import_id == import_id, ImportRow.line > last)
            .order_by(ImportRow.line)
            .limit(size)
        ).all()
        if not rows:
            return
        yield [tuple(row) for row in rows]
        last = rows[-1][1]


def _all_rows_before(db: Session, import_id: int, line: int) -> list[tuple]:
    return [
        tuple(row)
        for row in db.execute(
            sa.select(ImportRow.id, ImportRow.line, ImportRow.cells, ImportRow.outcome)
            .where(ImportRow.import_id == import_id, ImportRow.line < line)
            .order_by(ImportRow.line)
        )
    ]


def _write(
    db: Session, batch: SubscriberImport, rows: list[tuple], verdicts: list[Verdict], today: date
) -> None:
    """One batch: new people, accounts and subscriptions in bulk, the updates, the audit
    events, each row's outcome and the counts, in the caller's transaction."""
    moment = clock.now()
    actor = audit.staff_actor(batch.staff_id)
    todo = [(row, v) for row, v in zip(rows, verdicts, strict=True) if row[3] is None]
    new = [(row, v) for row, v in todo if v.outcome is RowOutcome.CREATE]
    account_of: dict[int, int] = {}
    events: list[dict] = []
    if new:
        person_ids = db.scalars(
            sa.insert(Person)
            .returning(Person.id, sort_by_parameter_order=True)
            .execution_options(**_PAGES),
            [
                {
                    "login": v.details.login,
                    "password_hash": credentials.UNUSABLE_HASH,
                    "name": v.details.name,
                    "phone": v.details.phone,
                    "created_at": moment,
                    "password_changed_at": moment,
                }
                for _row, v in new
            ],
        ).all()
        account_ids = db.scalars(
            sa.insert(Account)
            .returning(Account.id, sort_by_parameter_order=True)
            .execution_options(**_PAGES),
            [
                {
                    "person_id": person_id,
                    "contract_number": v.details.contract_number,
                    "personal_account": v.details.contract_number,
                    "address": v.details.address,
                    "district": v.details.district,
                    "balance": 0,
                    "created_at": moment,
                }
                for person_id, (_row, v) in zip(person_ids, new, strict=True)
            ],
        ).all()
        subscriptions = []
        for person_id, account_id, (row, v) in zip(person_ids, account_ids, new, strict=True):
            account_of[row[0]] = account_id
            # Every row with the same keys: rows with other keys would split the bulk
            # insert into one statement per change of keys.
            subscriptions += [
                {"account_id": account_id, "tariff_id": t, "service_id": None, "started_on": today}
                for t in v.tariff_ids
            ]
            subscriptions += [
                {"account_id": account_id, "tariff_id": None, "service_id": s, "started_on": today}
                for s in v.service_ids
            ]
            events.append(
                _event(
                    moment,
                    "subscriber.created",
                    actor,
                    person_id,
                    account_id,
                    contract=v.details.contract_number,
                    login=v.details.login,
                    import_id=batch.id,
                    **subscribers.created_changes(
                        v.details, tuple(v.tariff_codes), tuple(v.service_codes)
                    ),
                )
            )
        if subscriptions:
            # Core's insert, one multi-row statement a batch (the ORM's bulk insert sent
            # these one by one on PostgreSQL).
            db.execute(sa.insert(Subscription.__table__).execution_options(**_PAGES), subscriptions)
    changes = [(row, v) for row, v in todo if v.outcome is RowOutcome.UPDATE]
    if changes:
        # The batch locks its accounts in the file's order, the run in its own: they
        # would deadlock holding one each. So the batch takes the run's turn first.
        charges.wait_for_the_run(db)
        db.execute(
            sa.update(Person),
            [
                {"id": v.existing[1], "name": v.details.name, "phone": v.details.phone}
                for _r, v in changes
            ],
        )
        db.execute(
            sa.update(Account),
            [
                {"id": v.existing[0], "address": v.details.address, "district": v.details.district}
                for _r, v in changes
            ],
        )
        for row, v in changes:
            account_of[row[0]] = v.existing[0]
            now = dict(zip(UPDATABLE, _updatable(v.details), strict=True))
            before = dict(zip(UPDATABLE, v.existing[2:], strict=True))
            events.append(
                _event(
                    moment,
                    "subscriber.updated",
                    actor,
                    v.existing[1],
                    v.existing[0],
                    before={n: before[n] for n in v.changed},
                    after={n: now[n] for n in v.changed},
                    import_id=batch.id,
                )
            )
    for row, v in todo:
        if v.outcome is RowOutcome.UNCHANGED:
            account_of[row[0]] = v.existing[0]
    if events:
        db.execute(sa.insert(AuditEvent.__table__).execution_options(**_PAGES), events)
    db.execute(
        sa.update(ImportRow),
        [
            {
                "id": row[0],
                "outcome": v.outcome,
                "reason": v.reason,
                "detail": v.detail,
                "account_id": account_of.get(row[0]),
            }
            for row, v in todo
        ],
    )
    counted = {outcome: 0 for outcome in RowOutcome}
    for _row, v in todo:
        counted[v.outcome] += 1
    batch.rows_done += len(todo)
    batch.touched_at = moment
    batch.created += counted[RowOutcome.CREATE]
    batch.updated += counted[RowOutcome.UPDATE]
    batch.unchanged += counted[RowOutcome.UNCHANGED]
    batch.refused += counted[RowOutcome.REFUSE]
    batch.skipped += counted[RowOutcome.SKIP]


def _event(moment: datetime, name: str, actor: str, person_id, account_id, **data) -> dict:
    return {
        "at": moment,
        "event": name,
        "actor": actor,
        "person_id": person_id,
        "account_id": account_id,
        "data": data,
    }


# --- the error report ----------------------------------------------------------------

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a quote."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def report_csv(header: list[str], rows: Iterable[tuple[int, str, list[str]]]) -> bytes:
    """The refused rows (line, reason, the row's cells) as a CSV a spreadsheet opens:
    UTF-8 with a BOM, `;`, and no cell that becomes a live formula."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for line, reason, cells in rows:
        writer.writerow([str(line), safe_cell(reason), *(safe_cell(c) for c in cells)])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


# --- the credentials sheets ----------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    contract_number: str
    name: str
    login: str
    password: str


def sheets_left(db: Session, import_id: int) -> int:
    """Created subscribers whose sheet is still to be printed."""
    return db.scalar(
        sa.select(sa.func.count())
        .select_from(ImportRow)
        .where(
            ImportRow.import_id == import_id,
            ImportRow.outcome == RowOutcome.CREATE,
            ImportRow.sheet_printed_at.is_(None),
        )
    )


def print_sheets(
    db: Session,
    import_id: int,
    *,
    staff_id: int,
    limit: int = SHEETS_AT_ONCE,
    address: str | None = None,
) -> list[Sheet]:
    """The next credentials sheets of the subscribers an import created, for the member
    who ran it only, each once: their passwords are made now, only their hashes kept.

    A subscriber who has a password already (got one by SMS meanwhile) keeps it: no
    sheet. Returns an empty list when none is left."""
    batch = of_member(db, import_id, staff_id)
    if batch.state is not ImportState.DONE:
        return []
    picked = db.execute(
        sa.select(ImportRow.id, Person.id, Account.contract_number, Person.name, Person.login)
        .join(Account, Account.id == ImportRow.account_id)
        .join(Person, Person.id == Account.person_id)
        .where(
            ImportRow.import_id == import_id,
            ImportRow.outcome == RowOutcome.CREATE,
            ImportRow.sheet_printed_at.is_(None),
        )
        .order_by(ImportRow.line)
        .limit(limit)
    ).all()
    if not picked:
        return []
    moment = clock.now()
    taken = db.execute(
        sa.update(ImportRow)
        .where(ImportRow.id.in_([p[0] for p in picked]), ImportRow.sheet_printed_at.is_(None))
        .values(sheet_printed_at=moment)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != len(picked):
        db.rollback()  # printed in another tab at the same moment: that one shows them
        return []
    passwords = [credentials.generate_password() for _ in picked]
    # argon2 works outside the GIL: hash on every core.
    with ThreadPoolExecutor() as pool:
        hashes = list(pool.map(credentials.hash_password, passwords))
    sheets = []
    for (_row_id, person_id, contract, name, login), password, hashed in zip(
        picked, passwords, hashes, strict=True
    ):
        changed = db.execute(
            sa.update(Person)
            .where(Person.id == person_id, Person.password_hash == credentials.UNUSABLE_HASH)
            .values(password_hash=hashed, password_changed_at=moment)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:
            sheets.append(Sheet(contract, name, login, password))
    audit.record(
        db,
        "subscribers.import_sheets_printed",
        actor=audit.staff_actor(staff_id),
        address=address,
        id=import_id,
        contracts=[s.contract_number for s in sheets],
        **audit.changes({"password": audit.PASSWORD_NONE}, {"password": audit.PASSWORD_CHANGED}),
    )
    return sheets
