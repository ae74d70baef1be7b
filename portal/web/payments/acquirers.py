"""The acquirers as the web layer gets them: built from the app's configuration."""

from flask import current_app

from portal.domain import payments
from portal.domain.payments.base import PaymentProvider
from portal.extensions import db


def configured_name() -> str:
    """The acquirer new payments go to ("" when online payment is off)."""
    return current_app.config["PORTAL_PAYMENT_PROVIDER"] or ""


def provider_named(name: str) -> PaymentProvider:
    """The acquirer `name` (UnknownProvider if the portal has none, or the sandbox when
    its pages are off)."""
    if name == "sandbox" and not current_app.config["PORTAL_SANDBOX_ACQUIRER"]:
        raise payments.UnknownProvider(name)
    return payments.build(name, current_app.config, db.session)
