"""The errors payments raise, each with a name: a view turns each into an answer (a
message in the subscriber's language, or a status code for an acquirer), and a caller
never tells them apart by their text."""

from portal.domain.errors import DomainError, InvalidInput, NotFound


class PaymentError(DomainError):
    """Base of the payment errors."""


class ProviderUnavailable(PaymentError):
    """The acquirer did not answer, or answered something unusable: try again later.
    Nothing has changed on our side; the payment stays pending."""


class RemoteNotFound(PaymentError):
    """The acquirer knows no payment with this id."""


class ForgedNotification(PaymentError):
    """A notification that does not prove it comes from the acquirer."""


class BadNotification(PaymentError):
    """An authentic-looking notification that cannot be read."""


class NotificationNoted(PaymentError):
    """An authentic notification the portal does not act on (e.g. a refund): recorded
    for the staff and acknowledged."""


class UnknownPayment(NotFound):
    """A notification about a payment we have no row for."""


class AmountMismatch(PaymentError):
    """The acquirer (or its notification) names another amount or currency than the row."""


class InvalidTransition(PaymentError):
    """The state machine refuses the move (e.g. a succeeded payment cannot be canceled)."""

    def __init__(self, current, wanted):
        super().__init__(f"payment cannot go from {current} to {wanted}")
        self.current, self.wanted = current, wanted


class NotOnReview(PaymentError):
    """The staff resolve a payment on review, and this one is not (or no longer) there."""


class AlreadyResolved(PaymentError):
    """The queue's item was resolved already, by another form (`resolution` says how;
    None when the acquirer settled it meanwhile, e.g. a refund debited by its notice)."""

    def __init__(self, item: str, resolution=None):
        super().__init__(f"{item} is resolved already")
        self.item, self.resolution = item, resolution


class NotCreditable(PaymentError):
    """A payment on review that cannot be credited: the acquirer reported no payment
    made, or money in another currency. `why`: "not_paid", "currency", "unknown"."""

    def __init__(self, why: str):
        super().__init__(f"cannot credit: {why}")
        self.why = why


class RefundNotApplicable(PaymentError):
    """A noted refund the portal cannot debit by itself: what it needs is unknown (the
    acquirer did not say), the payment was never credited, or the sum is in another
    currency, larger than what was credited or than what is left of it after the refunds
    already debited. `why` says which."""

    def __init__(self, why: str):
        super().__init__(f"cannot apply: {why}")
        self.why = why


class CreationKeyReused(PaymentError):
    """The form's key already made a payment with other data: the form was tampered
    with or reused; the subscriber should reload the Pay page."""


class UnknownProvider(PaymentError):
    """The configuration names an acquirer this portal has no module for."""


# --- a sum typed on the Pay form ---------------------------------------------------------


class AmountError(InvalidInput):
    """A sum the Pay form cannot accept; the subclass says why."""


class AmountMissing(AmountError):
    pass


class AmountMalformed(AmountError):
    """Not a plain number (letters, exponents, NaN, several separators ...)."""


class AmountTooPrecise(AmountError):
    """More than two digits after the decimal separator."""


class AmountNotPositive(AmountError):
    pass


class AmountTooSmall(AmountError):
    pass


class AmountTooLarge(AmountError):
    pass


class CurrencyNotAccepted(AmountError):
    """Only roubles are accepted."""


# --- the sandbox acquirer's own pages ---------------------------------------------------


class NotATestCard(PaymentError):
    """The sandbox accepts only its test cards (and stores none)."""


class SandboxPaymentClosed(PaymentError):
    """The payment is already paid, canceled or expired."""
