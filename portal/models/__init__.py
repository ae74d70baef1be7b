"""Typed SQLAlchemy 2 models, one module per aggregate. No business methods here:
the rules live in portal.domain."""

from portal.models.account import Account, AccountStatus
from portal.models.audit import AuditEvent
from portal.models.billing import BillingDay, LowBalanceWarning
from portal.models.catalog import (
    AddonStart,
    Service,
    TakesEffect,
    Tariff,
    TariffGroup,
    TariffKind,
    service_exclusions,
)
from portal.models.imports import ImportRow, ImportState, RowOutcome, SubscriberImport
from portal.models.ledger import EntryKind, LedgerEntry
from portal.models.payment import (
    Payment,
    PaymentMethod,
    PaymentStatus,
    QueueResolution,
    Refund,
    ResolutionOutcome,
)
from portal.models.person import LoginSession, Person
from portal.models.promised import PromisedPayment, PromisedState
from portal.models.promo import Promotion, PromotionImage, PromotionPush, PromotionState
from portal.models.push import (
    DeliveryState,
    Notification,
    NotificationKind,
    NotificationPreference,
    PushDelivery,
    PushSubscription,
)
from portal.models.receipt import Receipt
from portal.models.recovery import PasswordRecovery, PhoneChange
from portal.models.sandbox import SandboxPayment
from portal.models.sms import SmsMessage, SmsStatus
from portal.models.staff import StaffMember, StaffRecoveryCode, StaffRole, StaffSession
from portal.models.subscription import Subscription
from portal.models.suspension import Suspension
from portal.models.tariff_change import TariffChange
from portal.models.visits import (
    Technician,
    VisitCategory,
    VisitRequest,
    VisitState,
    VisitWindow,
    VisitWindowTemplate,
)

__all__ = [
    "Account",
    "AccountStatus",
    "AddonStart",
    "AuditEvent",
    "BillingDay",
    "DeliveryState",
    "EntryKind",
    "ImportRow",
    "ImportState",
    "LedgerEntry",
    "LoginSession",
    "LowBalanceWarning",
    "Notification",
    "NotificationKind",
    "NotificationPreference",
    "PasswordRecovery",
    "Payment",
    "PaymentMethod",
    "PaymentStatus",
    "Person",
    "PhoneChange",
    "PromisedPayment",
    "PromisedState",
    "Promotion",
    "PromotionImage",
    "PromotionPush",
    "PromotionState",
    "PushDelivery",
    "PushSubscription",
    "QueueResolution",
    "Receipt",
    "Refund",
    "ResolutionOutcome",
    "RowOutcome",
    "SandboxPayment",
    "Service",
    "SmsMessage",
    "SmsStatus",
    "StaffMember",
    "StaffRecoveryCode",
    "StaffRole",
    "StaffSession",
    "SubscriberImport",
    "Subscription",
    "Suspension",
    "TakesEffect",
    "Tariff",
    "TariffChange",
    "TariffGroup",
    "TariffKind",
    "Technician",
    "VisitCategory",
    "VisitRequest",
    "VisitState",
    "VisitWindow",
    "VisitWindowTemplate",
    "service_exclusions",
]
