"""The smpp backend: SMPP 3.4 through smpplib, one transceiver session per message.

Texts always go as UCS-2 (data coding 8): our messages are Cyrillic, and GSM 7-bit
handling differs from one SMSC to the next. A long text is split into parts with a
concatenation header; the reference in that header is derived from the message id, so
a retry that resends only the unacknowledged parts joins up with the parts sent before.
See shared/recipes/smpp.md for how smpplib behaves.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import time
from collections.abc import Mapping
from dataclasses import dataclass

import smpplib.client
import smpplib.consts as c
import smpplib.exceptions
import smpplib.gsm

from portal.domain.sms.base import (
    GatewayError,
    OutgoingSms,
    PermanentGatewayError,
    Receipt,
    SendResult,
    SmsGateway,
    TemporaryGatewayError,
)
from portal.logs import event

log = logging.getLogger("portal.sms.smpp")
# smpplib logs every PDU in hex at DEBUG, texts included: its logger stays above that.
_client_log = logging.getLogger("portal.sms.smpp.client")
_client_log.setLevel(logging.INFO)

# submit_sm answers that no retry will change.
PERMANENT_STATUSES = {
    c.SMPP_ESME_RINVMSGLEN,
    c.SMPP_ESME_RINVSRCADR,
    c.SMPP_ESME_RINVDSTADR,
    c.SMPP_ESME_RINVESMCLASS,
    c.SMPP_ESME_RINVDSTTON,
    c.SMPP_ESME_RINVDSTNPI,
    c.SMPP_ESME_RX_P_APPN,
}
# esm_class message type bits of a deliver_sm that is an SMSC delivery receipt
# (smpplib has no constant for it).
RECEIPT_TYPE_MASK = 0x3C
RECEIPT_TYPE = 0x04
_RECEIPT_ID = re.compile(rb"id:(\S+)")
_RECEIPT_STAT = re.compile(rb"stat:(\w+)")


@dataclass(frozen=True)
class SmppSettings:
    host: str
    port: int
    system_id: str
    password: str
    source_addr: str
    system_type: str = ""
    timeout: float = 10.0  # for connecting, the bind, and each submit's answer
    receipt_wait: float = 1.0  # how long to stay bound after the last part for receipts


def message_parts(text: str, reference: int) -> tuple[list[bytes], int, int]:
    """The text as UCS-2 parts: (short_messages, data_coding, esm_class)."""
    try:
        parts, data_coding, esm_class = smpplib.gsm.make_parts(
            text, encoding=c.SMPP_ENCODING_ISO10646
        )
    except smpplib.exceptions.MessageTooLong:
        raise PermanentGatewayError("text too long for 255 parts") from None
    if len(parts) > 1:
        # make_parts draws a random reference on every call; the parts of one message
        # must all carry the same one, including the parts a retry sends later.
        parts = [part[:3] + bytes([reference % 256]) + part[4:] for part in parts]
    return parts, data_coding, esm_class


def parse_receipt(pdu) -> Receipt | None:
    """The delivery receipt carried by a deliver_sm, or None for any other deliver_sm."""
    if (int(pdu.esm_class or 0) & RECEIPT_TYPE_MASK) != RECEIPT_TYPE:
        return None
    text = pdu.short_message or b""
    found_id = _RECEIPT_ID.search(text)
    gateway_id = pdu.receipted_message_id or (found_id.group(1) if found_id else None)
    if not gateway_id:
        return None
    if isinstance(gateway_id, bytes):
        gateway_id = gateway_id.decode("ascii", "replace")
    stat = _RECEIPT_STAT.search(text)
    state = stat.group(1).decode("ascii", "replace") if stat else "UNKNOWN"
    return Receipt(gateway_id=gateway_id, state=state)


class SmppGateway(SmsGateway):
    name = "smpp"

    def __init__(self, settings: SmppSettings):
        self.settings = settings

    def send(self, sms: OutgoingSms) -> SendResult:
        parts, data_coding, esm_class = message_parts(sms.text, reference=sms.message_id)
        session = _Session(self.settings)
        acknowledged: dict[int, str] = dict(sms.acknowledged)
        try:
            session.open()
            for number, short_message in enumerate(parts, start=1):
                if number in acknowledged:
                    continue
                acknowledged[number] = session.submit(
                    destination=sms.to_phone.lstrip("+"),
                    short_message=short_message,
                    data_coding=data_coding,
                    esm_class=esm_class,
                )
                event(log, "sms.smpp.part_acknowledged", message_id=sms.message_id, part=number)
            session.wait_for_receipts(self.settings.receipt_wait)
            session.close()
        except GatewayError as exc:
            exc.acknowledged = acknowledged
            exc.receipts = tuple(session.receipts)
            raise
        finally:
            session.disconnect()
        return SendResult(acknowledged=acknowledged, receipts=tuple(session.receipts))


class _Session:
    """One bound transceiver session, turning smpplib's failures into gateway errors."""

    def __init__(self, settings: SmppSettings):
        self.settings = settings
        self.receipts: list[Receipt] = []
        self._answers: dict[int, str] = {}
        self.client = smpplib.client.Client(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            allow_unknown_opt_params=True,
            logger_name="portal.sms.smpp.client",
        )
        self.client.set_message_sent_handler(self._on_submit_answer)
        self.client.set_message_received_handler(self._on_deliver_sm)

    def open(self) -> None:
        try:
            self.client.connect()
            self.client.bind_transceiver(
                system_id=self.settings.system_id,
                password=self.settings.password,
                system_type=self.settings.system_type,
            )
        except smpplib.exceptions.PDUError as exc:
            # A refused bind is the gateway's configuration, not the message: retry later.
            raise TemporaryGatewayError(f"bind refused: {_status_name(exc)}") from None
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            raise TemporaryGatewayError(f"cannot connect: {exc or 'no answer'}") from None

    def submit(
        self, *, destination: str, short_message: bytes, data_coding: int, esm_class: int
    ) -> str:
        """Send one part and wait for its submit_sm_resp; its message id."""
        source = self.settings.source_addr
        try:
            pdu = self.client.send_message(
                source_addr_ton=c.SMPP_TON_INTL if source.isdigit() else c.SMPP_TON_ALNUM,
                source_addr_npi=c.SMPP_NPI_ISDN if source.isdigit() else c.SMPP_NPI_UNK,
                source_addr=source,
                dest_addr_ton=c.SMPP_TON_INTL,
                dest_addr_npi=c.SMPP_NPI_ISDN,
                destination_addr=destination,
                short_message=short_message,
                data_coding=data_coding,
                esm_class=esm_class,
                registered_delivery=True,
            )
            return self._wait_for_answer(pdu.sequence)
        except smpplib.exceptions.PDUError as exc:
            status = exc.args[1] if len(exc.args) > 1 else None
            error = (
                PermanentGatewayError if status in PERMANENT_STATUSES else (TemporaryGatewayError)
            )
            raise error(f"submit refused: {_status_name(exc)}") from None
        except TimeoutError:
            raise TemporaryGatewayError("no answer to submit_sm") from None
        except (smpplib.exceptions.ConnectionError, OSError):
            raise TemporaryGatewayError("connection lost while sending") from None

    def _wait_for_answer(self, sequence: int) -> str:
        deadline = time.monotonic() + self.settings.timeout
        while sequence not in self._answers:
            if time.monotonic() > deadline:
                raise TimeoutError
            # Receipts and the server's enquire_links arrive in between; read_once answers
            # them. Its default would swallow a timeout and send an enquire_link instead.
            self.client.read_once(auto_send_enquire_link=False)
        return self._answers.pop(sequence)

    def wait_for_receipts(self, seconds: float) -> None:
        """Stay bound a moment: receipts for what was just sent often come at once."""
        deadline = time.monotonic() + seconds
        try:
            while (left := deadline - time.monotonic()) > 0:
                # smpplib has no read with a deadline; its own poll() selects on the socket too.
                readable, _, _ = select.select([self.client._socket], [], [], left)
                if not readable:
                    return
                self.client.read_once(auto_send_enquire_link=False)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
            return  # every part is acknowledged already; receipts are a bonus

    def close(self) -> None:
        # The parts are acknowledged already; a rude goodbye changes nothing.
        with contextlib.suppress(
            smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError
        ):
            self.client.unbind()

    def disconnect(self) -> None:
        with contextlib.suppress(OSError):
            self.client.disconnect()

    def _on_submit_answer(self, pdu, **_kwargs) -> None:
        message_id = pdu.message_id
        if isinstance(message_id, bytes):
            message_id = message_id.decode("ascii", "replace")
        self._answers[pdu.sequence] = message_id

    def _on_deliver_sm(self, pdu, **_kwargs) -> None:
        receipt = parse_receipt(pdu)
        if receipt is not None:
            self.receipts.append(receipt)


def _status_name(exc: smpplib.exceptions.PDUError) -> str:
    status = exc.args[1] if len(exc.args) > 1 else None
    if status is None:
        return str(exc)
    return f"0x{status:02X} {c.DESCRIPTIONS.get(status, 'unknown status')}"


def settings_from(config: Mapping) -> SmppSettings:
    return SmppSettings(
        host=config["PORTAL_SMPP_HOST"],
        port=int(config["PORTAL_SMPP_PORT"]),
        system_id=config["PORTAL_SMPP_SYSTEM_ID"],
        password=config["PORTAL_SMPP_PASSWORD"],
        source_addr=config["PORTAL_SMPP_SOURCE_ADDR"],
        system_type=config.get("PORTAL_SMPP_SYSTEM_TYPE", ""),
        timeout=float(config["PORTAL_SMPP_TIMEOUT"]),
        receipt_wait=float(config["PORTAL_SMPP_RECEIPT_WAIT"]),
    )
