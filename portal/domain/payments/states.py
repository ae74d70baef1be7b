"""The payment state machine: the only way a payment's status changes."""

from portal import clock
from portal.domain.payments.errors import InvalidTransition
from portal.models import Payment, PaymentStatus

S = PaymentStatus
ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    S.CREATED: frozenset({S.PENDING, S.WAITING, S.SUCCEEDED, S.CANCELED, S.REVIEW}),
    S.PENDING: frozenset({S.WAITING, S.SUCCEEDED, S.CANCELED, S.REVIEW}),
    S.WAITING: frozenset({S.SUCCEEDED, S.CANCELED, S.REVIEW}),
    S.SUCCEEDED: frozenset(),
    S.CANCELED: frozenset(),
    # Final for the acquirer's side (a later notification changes nothing); only the
    # staff's resolution of the review queue (review.py) moves it on.
    S.REVIEW: frozenset({S.SUCCEEDED, S.CANCELED}),
}


def move(payment: Payment, to: PaymentStatus) -> bool:
    """Move `payment` to `to`; False if it is there already, InvalidTransition if the
    move is not allowed (a final payment never changes)."""
    if payment.status == to:
        return False
    if to not in ALLOWED[payment.status]:
        raise InvalidTransition(payment.status, to)
    payment.status = to
    moment = clock.now()
    payment.updated_at = moment
    if to.is_final:
        payment.finished_at = moment
    return True
