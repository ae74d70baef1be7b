"""What the subscriber is told about payments: the words for the domain's codes and
refusals, in the reader's language (templates only show them)."""

from flask_babel import gettext as _

from portal.domain.payments.amounts import Limits
from portal.domain.payments.errors import (
    AmountError,
    AmountMissing,
    AmountNotPositive,
    AmountTooLarge,
    AmountTooPrecise,
    AmountTooSmall,
    CurrencyNotAccepted,
)
from portal.domain.payments.start import Preset, PresetKind
from portal.models import Payment, PaymentMethod
from portal.web.filters import rub_plain


def amount_message(error: AmountError, limits: Limits) -> str:
    """What to tell the subscriber about a sum the domain refused."""
    if isinstance(error, AmountMissing):
        return _("Enter the amount.")
    if isinstance(error, AmountTooPrecise):
        return _("Kopecks take at most two digits after the comma.")
    if isinstance(error, AmountNotPositive):
        return _("The amount must be more than zero.")
    if isinstance(error, AmountTooSmall):
        return _("The smallest payment is %(sum)s.", sum=rub_plain(limits.minimum))
    if isinstance(error, AmountTooLarge):
        return _("The largest payment is %(sum)s.", sum=rub_plain(limits.maximum))
    if isinstance(error, CurrencyNotAccepted):
        return _("Payments are accepted in roubles only.")
    return _("Enter the amount in roubles as a number, e.g. 1500 or 1500,50.")


def preset_label(preset: Preset) -> str:
    """The words under a preset sum on the Pay page ("" for a round sum)."""
    if preset.kind is PresetKind.RECOMMENDED:
        return _("Until the end of next month")
    if preset.kind is PresetKind.MONTHLY:
        return _("A month of services")
    return ""


def cancel_message(payment: Payment) -> str:
    """Why a canceled payment did not go through, as the acquirer's reason says."""
    reason = payment.cancel_reason
    if reason == "card_declined":
        return _("The bank declined the card.")
    if reason == "insufficient_funds":
        return _("There is not enough money on the card.")
    if reason in ("expired", "expired_on_confirmation"):
        return _("The time to pay ran out.")
    if reason == "canceled_by_payer":
        return _("The payment was canceled.")
    if reason == "3d_secure_failed":
        return _("The bank did not confirm the payment.")
    if reason == "not_started":
        return _("The payment service did not answer.")
    return _("The payment service refused the payment.")


def method_name(method: PaymentMethod) -> str:
    """How a payment was paid, in words."""
    if method is PaymentMethod.SBP:
        return _("SBP (Faster Payments System)")
    return _("Bank card")


def fiscal_registration(status: str) -> str:
    """Where the acquirer's cash register is with the fiscal receipt, in words."""
    if status == "succeeded":
        return _("registered")
    if status == "pending":
        return _("being registered")
    if status == "canceled":
        return _("not registered")
    return status
