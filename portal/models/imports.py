"""Imports of subscribers from the provider's billing system: one row per uploaded file
(its state and counts) and one per line of it (its cells, the dry run's verdict and what
the real run did), so any app process or worker can run it; nothing is kept on disk."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class ImportState(enum.StrEnum):
    CHECKED = "checked"  # the dry run is done; nothing written to the accounts yet
    QUEUED = "queued"  # the real run is asked for; a job will take it
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the job broke off; what it did so far stays, a new run resumes


class RowOutcome(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    REFUSE = "refuse"
    SKIP = "skip"  # an empty line


class SubscriberImport(Base):
    __tablename__ = "subscriber_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"), index=True)
    file_name: Mapped[str] = mapped_column(sa.String(200))
    encoding: Mapped[str] = mapped_column(sa.String(16))
    delimiter: Mapped[str] = mapped_column(sa.String(1))
    # The file's header, as written (for the error report).
    header: Mapped[list] = mapped_column(sa.JSON)
    state: Mapped[ImportState] = mapped_column(enum_type(ImportState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When a run was last asked for or last wrote a batch: a sweep takes over an import
    # left queued or running for long (its job lost with a restart).
    touched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.String(300))

    rows: Mapped[list[ImportRow]] = relationship(back_populates="batch", order_by="ImportRow.line")


class ImportRow(Base):
    """One line of the file: its cells, the dry run's verdict (`planned`) and
    the real run's (`outcome`, None until the run reaches it), with the reason of a
    refusal as a code the page translates."""

    __tablename__ = "subscriber_import_rows"
    __table_args__ = (sa.UniqueConstraint("import_id", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriber_imports.id"))
    line: Mapped[int] = mapped_column()
    cells: Mapped[list] = mapped_column(sa.JSON)  # in the order of the file's header
    planned: Mapped[RowOutcome] = mapped_column(enum_type(RowOutcome))
    outcome: Mapped[RowOutcome | None] = mapped_column(enum_type(RowOutcome))
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    detail: Mapped[str | None] = mapped_column(sa.String(100))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    # When the credentials sheet of a created subscriber was printed (its password made).
    sheet_printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    batch: Mapped[SubscriberImport] = relationship(back_populates="rows")
