"""YooKassa through its official SDK (yookassa 3.x).

- A payment is created with our payment row's id as the Idempotence-Key, a redirect
  confirmation, the chosen method (bank_card or sbp) and the 54-FZ receipt (one item,
  the VAT code and the accountant's payment mode and subject from configuration, the
  subscriber's phone), so the fiscal receipt reaches the payer.
- Notifications carry no signature: they are accepted only from YooKassa's published
  address ranges, and nothing in them is believed; the payment is read back from the API.
- The SDK has no socket timeout and turns a refused connection into an AttributeError:
  every call here has a (connect, read) timeout and any failure becomes
  ProviderUnavailable, the "try again later" of the portal.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import requests
from yookassa import Configuration
from yookassa import Payment as SdkPayment
from yookassa import Receipt as SdkReceipt
from yookassa import Refund as SdkRefund
from yookassa.client import ApiClient
from yookassa.domain.exceptions import NotFoundError
from yookassa.domain.notification import WebhookNotificationFactory

from portal.domain.payments.acquirers.base import (
    NewPayment,
    Notification,
    PaymentProvider,
    RemotePayment,
    RemoteRefund,
    RemoteStatus,
)
from portal.domain.payments.amounts import decimal_text
from portal.domain.payments.errors import (
    BadNotification,
    ForgedNotification,
    ProviderUnavailable,
    RemoteNotFound,
)

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.yookassa.ru/v3"
# https://yookassa.ru/developers/using-api/webhooks#ip: the SDK's SecurityHelper lists
# narrower IPv6 ranges than the documented 2a02:5180::/32.
PUBLISHED_NETWORKS = (
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.156.11/32",
    "77.75.156.35/32",
    "77.75.154.128/25",
    "2a02:5180::/32",
)
_STATUSES = {
    "pending": RemoteStatus.PENDING,
    "waiting_for_capture": RemoteStatus.WAITING,
    "succeeded": RemoteStatus.SUCCEEDED,
    "canceled": RemoteStatus.CANCELED,
}
# Configuration is process-wide state in the SDK: set it and build the client together.
_configure_lock = threading.Lock()


class _TimedSession(requests.Session):
    """A requests session that never waits for ever."""

    def __init__(self, timeout: tuple[float, float]):
        super().__init__()
        self._timeout = timeout

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


class _TimedClient(ApiClient):
    def __init__(self, timeout: tuple[float, float]):
        super().__init__()
        self._socket_timeout = timeout

    def get_session(self):
        session = super().get_session()
        timed = _TimedSession(self._socket_timeout)
        timed.adapters = session.adapters  # keep the SDK's retry-on-202 adapter
        return timed


def _client_for(settings: Settings):
    def build():
        with _configure_lock:
            Configuration.configure(settings.shop_id, settings.secret_key, api_url=settings.api_url)
            return _TimedClient((settings.connect_timeout, settings.read_timeout))

    return build


@dataclass(frozen=True)
class Settings:
    shop_id: str
    secret_key: str
    api_url: str
    connect_timeout: float
    read_timeout: float
    vat_code: int
    tax_system_code: int | None
    payment_mode: str
    payment_subject: str
    receipt_item: str
    networks: tuple


@dataclass
class Provider(PaymentProvider):
    settings: Settings

    name = "yookassa"
    redirect_origins = ("https://yoomoney.ru", "https://*.yoomoney.ru", "https://*.yookassa.ru")

    @classmethod
    def from_config(cls, config: Mapping, db=None) -> Provider:
        tax_system = config.get("PORTAL_YOOKASSA_TAX_SYSTEM_CODE")
        networks = config.get("PORTAL_YOOKASSA_TRUSTED_NETWORKS") or PUBLISHED_NETWORKS
        return cls(
            Settings(
                shop_id=str(config.get("PORTAL_YOOKASSA_SHOP_ID") or ""),
                secret_key=str(config.get("PORTAL_YOOKASSA_SECRET_KEY") or ""),
                api_url=config.get("PORTAL_YOOKASSA_API_URL") or DEFAULT_API_URL,
                connect_timeout=float(config.get("PORTAL_YOOKASSA_CONNECT_TIMEOUT", 5)),
                read_timeout=float(config.get("PORTAL_YOOKASSA_READ_TIMEOUT", 15)),
                vat_code=int(config.get("PORTAL_YOOKASSA_VAT_CODE", 1)),
                tax_system_code=int(tax_system) if tax_system else None,
                payment_mode=config.get("PORTAL_YOOKASSA_PAYMENT_MODE", "full_prepayment"),
                payment_subject=config.get("PORTAL_YOOKASSA_PAYMENT_SUBJECT", "service"),
                receipt_item=config.get(
                    "PORTAL_YOOKASSA_RECEIPT_ITEM", "Услуги связи (пополнение лицевого счёта)"
                ),
                networks=tuple(ipaddress.ip_network(n, strict=False) for n in networks),
            )
        )

    @classmethod
    def configuration_problems(cls, config: Mapping) -> list[str]:
        problems = [
            f"{name} must be set for PORTAL_PAYMENT_PROVIDER=yookassa "
            "(the shop's credentials from the YooKassa dashboard)"
            for name in ("PORTAL_YOOKASSA_SHOP_ID", "PORTAL_YOOKASSA_SECRET_KEY")
            if not str(config.get(name) or "").strip()
        ]
        for network in config.get("PORTAL_YOOKASSA_TRUSTED_NETWORKS") or ():
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                problems.append(
                    f"PORTAL_YOOKASSA_TRUSTED_NETWORKS: {network!r} is not a network "
                    "(write e.g. 185.71.76.0/27)"
                )
        return problems

    # -- API calls ---------------------------------------------------------------------

    def _call(self, what: str, fn):
        """Run an SDK call; any failure but a 404 becomes ProviderUnavailable."""
        if not self.settings.shop_id or not self.settings.secret_key:
            raise ProviderUnavailable("YooKassa shop id or secret key is not configured")
        try:
            return fn()
        except NotFoundError as exc:
            raise RemoteNotFound(what) from exc
        except Exception as exc:  # the SDK raises anything, even AttributeError
            log.warning("yookassa %s failed: %s: %s", what, type(exc).__name__, exc)
            raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from exc

    def create(self, payment: NewPayment) -> RemotePayment:
        params = self.payment_params(payment)
        build = _client_for(self.settings)

        class _Payment(SdkPayment):
            def __init__(self):
                self.client = build()

        response = self._call(
            "create", lambda: _Payment.create(params, idempotency_key=payment.idempotence_key)
        )
        return self._remote(response)

    def payment_params(self, payment: NewPayment) -> dict:
        """The request body of a payment: amount, redirect, method, receipt, metadata."""
        amount = {"value": decimal_text(payment.amount), "currency": payment.currency}
        customer = {}
        if payment.customer_email:
            customer["email"] = payment.customer_email
        if payment.customer_phone:
            customer["phone"] = payment.customer_phone.lstrip("+")
        receipt = {
            "customer": customer,
            "items": [
                {
                    "description": f"{self.settings.receipt_item}, договор {payment.contract}"[
                        :128
                    ],
                    "quantity": "1.00",
                    "amount": amount,
                    "vat_code": self.settings.vat_code,
                    "payment_mode": self.settings.payment_mode,
                    "payment_subject": self.settings.payment_subject,
                }
            ],
        }
        if self.settings.tax_system_code:
            receipt["tax_system_code"] = self.settings.tax_system_code
        return {
            "amount": amount,
            "capture": True,
            "confirmation": {"type": "redirect", "return_url": payment.return_url},
            "payment_method_data": {"type": "sbp" if payment.method == "sbp" else "bank_card"},
            "description": payment.description[:128],
            "metadata": {"payment_id": str(payment.payment_id), "contract": payment.contract},
            "receipt": receipt,
        }

    def fetch(self, provider_payment_id: str) -> RemotePayment:
        build = _client_for(self.settings)

        class _Payment(SdkPayment):
            def __init__(self):
                self.client = build()

        response = self._call("fetch", lambda: _Payment.find_one(provider_payment_id))
        remote = self._remote(response)
        if remote.status is RemoteStatus.SUCCEEDED:
            receipt = self._fiscal_receipt(provider_payment_id, response)
            remote = RemotePayment(**{**remote.__dict__, "fiscal_receipt": receipt})
        return remote

    def _fiscal_receipt(self, provider_payment_id: str, response) -> dict:
        """The fiscal receipt's registration status and, once registered, its attributes
        (from the receipts API). Optional: a failure here never blocks crediting."""
        found = {"registration": getattr(response, "receipt_registration", None)}
        build = _client_for(self.settings)

        class _Receipt(SdkReceipt):
            def __init__(self):
                self.client = build()

        try:
            listed = self._call(
                "receipts", lambda: _Receipt.list({"payment_id": provider_payment_id})
            )
        except (ProviderUnavailable, RemoteNotFound):
            return {k: v for k, v in found.items() if v}
        for item in getattr(listed, "items", None) or []:
            if getattr(item, "type", None) == "payment":
                for attr in (
                    "fiscal_document_number",
                    "fiscal_storage_number",
                    "fiscal_attribute",
                    "registered_at",
                    "fiscal_provider_id",
                ):
                    value = getattr(item, attr, None)
                    if value:
                        found[attr] = str(value)
                found["registration"] = getattr(item, "status", None) or found["registration"]
                break
        return {k: v for k, v in found.items() if v}

    def fetch_refund(self, refund_id: str) -> RemoteRefund:
        build = _client_for(self.settings)

        class _Refund(SdkRefund):
            def __init__(self):
                self.client = build()

        response = self._call("refund", lambda: _Refund.find_one(refund_id))
        try:
            return RemoteRefund(
                refund_id=str(response.id),
                provider_payment_id=str(response.payment_id),
                status=str(response.status),
                amount=_kopecks(response.amount.value),
                currency=str(response.amount.currency),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise ProviderUnavailable(f"unreadable refund: {exc}") from exc

    def _remote(self, response) -> RemotePayment:
        try:
            status = _STATUSES[response.status]
            amount = _kopecks(response.amount.value)
            currency = str(response.amount.currency)
            confirmation = getattr(response.confirmation, "confirmation_url", None)
            metadata = response.metadata or {}
            our_id = str(metadata.get("payment_id") or "")
            reason = None
            if status is RemoteStatus.CANCELED:
                details = response.cancellation_details
                reason = getattr(details, "reason", None) or "canceled"
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ProviderUnavailable(f"unreadable payment: {exc}") from exc
        return RemotePayment(
            provider_payment_id=str(response.id),
            status=status,
            amount=amount,
            currency=currency,
            confirmation_url=confirmation,
            cancel_reason=reason,
            our_payment_id=int(our_id) if our_id.isdigit() else None,
        )

    # -- notifications -----------------------------------------------------------------

    def trusts(self, remote_addr: str | None) -> bool:
        try:
            address = ipaddress.ip_address((remote_addr or "").strip())
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        return any(address in network for network in self.settings.networks)

    def parse_notification(
        self, body: bytes, headers: Mapping[str, str], remote_addr: str | None
    ) -> Notification:
        if not self.trusts(remote_addr):
            raise ForgedNotification(f"not from YooKassa's addresses: {remote_addr}")
        try:
            data = json.loads(body)
            note = WebhookNotificationFactory().create(data)
            obj = note.object
            amount = getattr(obj, "amount", None)
            event = str(note.event)
            is_refund = event.startswith("refund.")
            return Notification(
                provider_payment_id=str(obj.payment_id if is_refund else obj.id),
                event=event,
                claimed_amount=_kopecks(amount.value) if amount is not None else None,
                claimed_currency=str(amount.currency) if amount is not None else None,
                about_payment=event.startswith("payment."),
                refund_id=str(obj.id) if is_refund else None,
            )
        except Exception as exc:  # the SDK's parsers raise many kinds
            raise BadNotification(f"{type(exc).__name__}: {exc}") from exc


def _kopecks(value) -> int:
    try:
        exact = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"amount {value!r}") from exc
    kopecks = exact * 100
    if kopecks != kopecks.to_integral_value():
        raise ValueError(f"amount {value!r}")
    return int(kopecks)
