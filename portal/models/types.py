"""Column types shared by the models."""

import enum
from datetime import UTC, datetime

import sqlalchemy as sa


def enum_type(cls: type[enum.Enum], length: int = 16) -> sa.Enum:
    """The column type of an enum: its members' values (not their names) in a plain
    VARCHAR(length) on every backend, so adding a member needs no ALTER TYPE."""
    return sa.Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no offset, so values come back naive; this type stores UTC and hands
    back aware datetimes everywhere, so comparisons never mix naive and aware values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
