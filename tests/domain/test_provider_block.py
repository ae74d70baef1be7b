"""The provider's own block of an account: not the block for debt. A payment does not
lift it, billing does not charge through it, and lifting it leaves the account blocked
for debt while the balance is below the block threshold."""

from datetime import date

import pytest
import sqlalchemy as sa

from portal.domain import audit, billing, ledger, subscribers
from portal.domain.errors import InvalidInput
from portal.models import Account, AccountStatus, AuditEvent, EntryKind, LedgerEntry
from tests.factories import create_payment, create_subscriber, create_tariff, pay

ACTOR = audit.staff_actor(7)
REASON = "Самовольное подключение соседей"


def events(session, name: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
        )
    )


def test_a_block_has_its_status_its_reason_and_an_audit_event(session):
    account = create_subscriber(session).account
    subscribers.block(session, account.id, reason=f"  {REASON} ", actor=ACTOR, address="10.0.0.5")
    session.refresh(account)
    assert account.status is AccountStatus.BLOCKED_BY_PROVIDER
    assert account.block_reason == REASON
    (event,) = events(session, "account.blocked_by_provider")
    assert (event.actor, event.address) == (ACTOR, "10.0.0.5")
    assert (event.account_id, event.person_id) == (account.id, account.person_id)
    assert event.data["reason"] == REASON
    assert event.data["before"] == {"status": "active", "block_reason": None}
    assert event.data["after"] == {"status": "provider_blocked", "block_reason": REASON}


def test_a_block_twice_and_an_unblock_of_what_is_not_blocked_are_refused(session):
    account = create_subscriber(session).account
    with pytest.raises(subscribers.NotBlocked):
        subscribers.unblock(session, account.id, reason="ошибка", actor=ACTOR, block_threshold=0)
    subscribers.block(session, account.id, reason=REASON, actor=ACTOR)
    with pytest.raises(subscribers.AlreadyBlocked):
        subscribers.block(session, account.id, reason="ещё раз", actor=ACTOR)
    assert len(events(session, "account.blocked_by_provider")) == 1
    assert events(session, "account.unblocked_by_provider") == []


@pytest.mark.parametrize("reason", ["", "   ", "я" * 301])
def test_a_block_needs_a_reason(session, reason):
    account = create_subscriber(session).account
    with pytest.raises(InvalidInput):
        subscribers.block(session, account.id, reason=reason, actor=ACTOR)
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE and account.block_reason is None
    assert events(session, "account.blocked_by_provider") == []


def test_a_payment_does_not_lift_the_providers_block(session):
    account = create_subscriber(session, balance=-300_00).account
    account.status = AccountStatus.BLOCKED  # blocked for debt, then by the provider too
    session.flush()
    subscribers.block(session, account.id, reason=REASON, actor=ACTOR)
    (blocked,) = events(session, "account.blocked_by_provider")
    assert blocked.data["before"]["status"] == "blocked"
    pay(session, create_payment(session, account, amount=500_00))
    session.refresh(account)
    assert account.balance == 200_00  # the money is credited...
    assert account.status is AccountStatus.BLOCKED_BY_PROVIDER  # ...the block stays
    assert events(session, "account.unblocked") == []


def test_unblocking_a_negative_balance_leaves_the_block_for_debt(session):
    account = create_subscriber(session, balance=-120_00).account
    subscribers.block(session, account.id, reason=REASON, actor=ACTOR)
    subscribers.unblock(
        session,
        account.id,
        reason="Разобрались",
        actor=ACTOR,
        block_threshold=0,
        address="10.0.0.5",
    )
    session.refresh(account)
    assert account.status is AccountStatus.BLOCKED and account.block_reason is None
    (event,) = events(session, "account.unblocked_by_provider")
    assert event.actor == ACTOR and event.data["reason"] == "Разобрались"
    assert event.data["before"] == {"status": "provider_blocked", "block_reason": REASON}
    assert event.data["after"] == {"status": "blocked", "block_reason": None}
    # That one a payment lifts, as any block for debt.
    pay(session, create_payment(session, account, amount=120_00))
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE


@pytest.mark.parametrize("balance", [0, 50_00])
def test_unblocking_a_balance_of_zero_or_more_makes_the_account_active(session, balance):
    account = create_subscriber(session, balance=balance).account
    subscribers.block(session, account.id, reason=REASON, actor=ACTOR)
    subscribers.unblock(session, account.id, reason="Разобрались", actor=ACTOR, block_threshold=0)
    session.refresh(account)
    assert account.status is AccountStatus.ACTIVE


@pytest.mark.parametrize(
    ("balance", "status"),
    [
        (-50_00, AccountStatus.ACTIVE),
        (-100_00, AccountStatus.ACTIVE),
        (-150_00, AccountStatus.BLOCKED),
    ],
)
def test_unblocking_follows_the_block_threshold_not_zero(session, balance, status):
    """With a negative threshold, a debt above it is no block for debt: the run would
    not block it, so lifting the provider's block does not either."""
    account = create_subscriber(session, balance=balance).account
    subscribers.block(session, account.id, reason=REASON, actor=ACTOR)
    subscribers.unblock(
        session, account.id, reason="Разобрались", actor=ACTOR, block_threshold=-100_00
    )
    session.refresh(account)
    assert account.status is status


def test_billing_does_not_charge_an_account_the_provider_blocked(session):
    tariff = create_tariff(session, price=600_00)
    blocked = create_subscriber(session, tariffs=[tariff], balance=1000_00).account
    running = create_subscriber(session, tariffs=[tariff], balance=1000_00).account
    subscribers.block(session, blocked.id, reason=REASON, actor=ACTOR)
    result = billing.run_day(session, date(2026, 11, 24), block_threshold=0)
    charges = session.scalars(
        sa.select(LedgerEntry.account_id).where(LedgerEntry.kind == EntryKind.CHARGE)
    ).all()
    assert blocked.id not in charges and running.id in charges
    assert result.charged_accounts >= 1
    session.refresh(blocked)
    assert blocked.status is AccountStatus.BLOCKED_BY_PROVIDER and blocked.balance == 1000_00
    assert ledger.balance_from_entries(session, blocked.id) == 1000_00


def test_billing_blocks_for_debt_with_the_status_before_and_after(session):
    tariff = create_tariff(session, price=600_00)
    account = create_subscriber(session, tariffs=[tariff]).account
    billing.run_day(session, date(2026, 11, 24), block_threshold=0)
    assert session.get(Account, account.id).status is AccountStatus.BLOCKED
    (event,) = [
        e for e in events(session, "account.blocked_for_debt") if e.account_id == account.id
    ]
    assert (event.data["before"], event.data["after"]) == (
        {"status": "active"},
        {"status": "blocked"},
    )
