"""refunds: each refund debited, tied to the payment it gives back (a receipt shows its
refunds); the refunds already in the ledger are tied where that can be told for sure

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 09:00:00
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# The audit events that name the payment of a refund debited (settle.record_refund,
# review.resolve_refund), with its acquirer and the acquirer's refund id.
REFUND_EVENTS = ("payment.refunded", "payment.refund_resolved")
# The words both wrote on a refund's ledger entry until the history drew its own.
STORED_WORDS = re.compile(r"Возврат оплаты №(\d+)")


def upgrade() -> None:
    refunds = op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_refunds_ledger_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("ledger_entry_id", name=op.f("uq_refunds_ledger_entry_id")),
    )
    op.create_index(op.f("ix_refunds_payment_id"), "refunds", ["payment_id"], unique=False)
    rows = derived_links(op.get_bind())
    if rows:
        op.bulk_insert(refunds, rows)


def derived_links(bind) -> list[dict]:
    """The refunds already in the ledger whose payment is known for sure: the audit
    events and the entry's own words name one payment, and it is the same account's. An
    entry that names none, or two, stays untied (the ledger itself is never changed)."""
    events = sa.table("audit_events", sa.column("event"), sa.column("data", sa.JSON))
    entries = sa.table(
        "ledger_entries",
        sa.column("id"),
        sa.column("account_id"),
        sa.column("kind"),
        sa.column("idempotency_key"),
        sa.column("description"),
    )
    payments = sa.table("payments", sa.column("id"), sa.column("account_id"))
    named: dict[str, set[int]] = {}
    for (data,) in bind.execute(sa.select(events.c.data).where(events.c.event.in_(REFUND_EVENTS))):
        data = data or {}
        payment_id, provider, refund_id = (
            data.get("payment_id"),
            data.get("provider"),
            data.get("refund_id"),
        )
        if isinstance(payment_id, int) and provider and refund_id:
            named.setdefault(f"refund:{provider}:{refund_id}", set()).add(payment_id)
    account_of = dict(bind.execute(sa.select(payments.c.id, payments.c.account_id)).all())
    rows = []
    refunds = bind.execute(
        sa.select(
            entries.c.id, entries.c.account_id, entries.c.idempotency_key, entries.c.description
        )
        .where(entries.c.kind == "refund")
        .order_by(entries.c.id)
    )
    for entry_id, account_id, key, words in refunds:
        found = set(named.get(key, ()))
        stored = STORED_WORDS.fullmatch(words or "")
        if stored:
            found.add(int(stored.group(1)))
        if len(found) != 1:
            continue
        (payment_id,) = found
        if account_of.get(payment_id) == account_id:
            rows.append({"payment_id": payment_id, "ledger_entry_id": entry_id})
    return rows


def downgrade() -> None:
    op.drop_index(op.f("ix_refunds_payment_id"), table_name="refunds")
    op.drop_table("refunds")
