"""The acquirers, one module each, and the one way to get one by its name.

PORTAL_PAYMENT_PROVIDER names an acquirer; a payment row keeps the name of the acquirer
it went to. `acquirer_for(name, config, db)` is how the web, the CLI and the sandbox's
own pages get one. Adding an acquirer: one module with a `Provider(PaymentProvider)`
class whose `name` is its key here.
"""

import importlib
from collections.abc import Mapping

from sqlalchemy.orm import Session

from portal.domain.payments.acquirers.base import PaymentProvider
from portal.domain.payments.errors import UnknownProvider

# name -> module; imported when first asked for (the YooKassa SDK only where it is used).
ACQUIRERS: dict[str, str] = {
    "sandbox": f"{__name__}.sandbox",
    "yookassa": f"{__name__}.yookassa",
}


def acquirer_class(name: str) -> type[PaymentProvider]:
    """The Provider class of the acquirer called `name` (UnknownProvider if none)."""
    module_name = ACQUIRERS.get(name or "")
    if module_name is None:
        raise UnknownProvider(name)
    cls = importlib.import_module(module_name).Provider
    assert issubclass(cls, PaymentProvider) and cls.name == name, module_name
    return cls


def acquirer_for(name: str, config: Mapping, db: Session) -> PaymentProvider:
    """The acquirer called `name`, configured from the settings. A test acquirer (the
    sandbox) exists only while PORTAL_SANDBOX_ACQUIRER is on: otherwise UnknownProvider,
    as for a name the portal has no module for."""
    cls = acquirer_class(name)
    if cls.is_test and not config.get("PORTAL_SANDBOX_ACQUIRER"):
        raise UnknownProvider(name)
    return cls.from_config(config, db)
