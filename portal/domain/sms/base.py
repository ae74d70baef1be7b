"""The SMS gateway interface: what every backend (outbox, smpp) offers, and the errors it
raises, so delivery can tell a failure worth retrying from a refusal for good."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutgoingSms:
    """One message as a gateway sees it."""

    message_id: int  # stable across retries: long messages take their part reference from it
    to_phone: str  # E.164, with its leading +
    text: str
    sensitive: bool = False  # never log the text
    # Parts acknowledged by earlier attempts (part number -> gateway id): not to be resent.
    acknowledged: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt: the gateway's id of a message (part) and what became of it."""

    gateway_id: str
    state: str  # the SMSC's word for it: DELIVRD, UNDELIV, EXPIRED, REJECTD, ...

    @property
    def delivered(self) -> bool:
        return self.state == "DELIVRD"


@dataclass(frozen=True)
class SendResult:
    """Every part acknowledged (part number -> gateway id), and receipts seen meanwhile."""

    acknowledged: Mapping[int, str]
    receipts: tuple[Receipt, ...] = ()


class GatewayError(Exception):
    """Sending failed. `acknowledged` keeps the parts the gateway did accept before that,
    so that a retry resends only the others."""

    def __init__(
        self,
        reason: str,
        *,
        acknowledged: Mapping[int, str] | None = None,
        receipts: tuple[Receipt, ...] = (),
    ):
        super().__init__(reason)
        self.reason = reason
        self.acknowledged = dict(acknowledged or {})
        self.receipts = receipts


class TemporaryGatewayError(GatewayError):
    """Worth trying again later: the gateway is down, busy, throttling or timed out."""


class PermanentGatewayError(GatewayError):
    """Trying again will not help: a wrong number, a refused login, a text too long."""


class SmsGateway(abc.ABC):
    """A way to hand a text message to the outside world."""

    name: str
    # True when "sending" only keeps the message for people to read in the portal itself,
    # so its text must stay readable after it is sent.
    keeps_messages: bool = False

    @abc.abstractmethod
    def send(self, sms: OutgoingSms) -> SendResult:
        """Send the parts of `sms` not yet acknowledged; raise a GatewayError subclass."""
