"""Online payments: the provider interface (base), the acquirers (one module each:
sandbox, yookassa), the bank QR code (qr), sums typed by people (amounts), the state
machine (states) and the operations the web and the CLI call (service).

An acquirer is found by its name: PORTAL_PAYMENT_PROVIDER=name loads the module
portal.domain.payments.<name> and uses its `Provider` class, so adding an acquirer means
adding one module.
"""

import importlib
import re
from collections.abc import Mapping

from portal.domain.payments.base import PaymentProvider, UnknownProvider

__all__ = ["PaymentProvider", "UnknownProvider", "build", "provider_class"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_NOT_PROVIDERS = {"base", "amounts", "states", "service", "qr"}


def provider_class(name: str) -> type[PaymentProvider]:
    """The Provider class of the acquirer module called `name`."""
    if not name or not _NAME.match(name) or name in _NOT_PROVIDERS:
        raise UnknownProvider(name)
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        raise UnknownProvider(name) from exc
    cls = getattr(module, "Provider", None)
    if not (isinstance(cls, type) and issubclass(cls, PaymentProvider)) or cls.name != name:
        raise UnknownProvider(name)
    return cls


def build(name: str, config: Mapping, db) -> PaymentProvider:
    """The acquirer called `name`, configured from the app's settings."""
    return provider_class(name).from_config(config, db)
