"""A minimal SMPP 3.4 server for the tests, on 127.0.0.1 and a free port, in a thread.

It answers bind_transceiver, submit_sm, enquire_link and unbind as the protocol says,
sends a deliver_sm delivery receipt after each accepted submit_sm, and records every
PDU it received. It can also misbehave on request: refuse binds, throttle submits
(ESME_RTHROTTLED), drop the connection after some submits, or never answer.
smpplib's PDU classes do the encoding (see shared/recipes/smpp.md).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
from dataclasses import dataclass, field

import smpplib.consts as c
from smpplib import smpp

RECEIPT_ESM_CLASS = 0x04  # an SMSC delivery receipt; smpplib has no constant for it


@dataclass
class Received:
    """One PDU as the server received it."""

    command: str
    sequence: int
    destination: str | None = None
    source: str | None = None
    short_message: bytes = b""
    data_coding: int | None = None
    esm_class: int | None = None
    system_id: str | None = None


@dataclass
class Behaviour:
    refuse_bind: bool = False
    throttle_submits: int = 0  # answer this many submits with ESME_RTHROTTLED first
    # Close the connection after answering this many submits (once), before reading more.
    drop_after_submits: int | None = None
    # ... or read one more submit and close without answering it (the at-least-once case).
    drop_unanswered: bool = False
    never_answer: str | None = None  # "bind" or "submit": read, and never reply
    send_receipts: bool = True


class _Sequences:
    """What smpplib's PDU classes want from a 'client': sequence numbers."""

    def __init__(self):
        self._numbers = itertools.count(1)
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence = next(self._numbers)
        return self.sequence


@dataclass
class SmppTestServer:
    behaviour: Behaviour = field(default_factory=Behaviour)
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.host, self.port = self._listener.getsockname()
        self._ids = itertools.count(1)
        self._answered_submits = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    # --- what tests use ---------------------------------------------------------------

    def start(self) -> SmppTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        _close(self._listener)  # shutdown() wakes the accept() that close() alone would not
        for conn in list(self._open):
            _close(conn)
        self._thread.join(5)

    def submits(self) -> list[Received]:
        with self._lock:
            return [pdu for pdu in self.received if pdu.command == "submit_sm"]

    def commands(self) -> list[str]:
        with self._lock:
            return [pdu.command for pdu in self.received]

    # --- the protocol -----------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        sequences = _Sequences()
        try:
            while not self._stopping.is_set():
                request = _read_pdu(conn, sequences)
                if request is None:
                    return
                if not self._answer(conn, request, sequences):
                    return
        except OSError:
            return
        finally:
            _close(conn)

    def _answer(self, conn: socket.socket, request, sequences: _Sequences) -> bool:
        """Record and answer one PDU; False closes the connection."""
        command = request.command
        if command == "submit_sm" and self._must_drop_unanswered():
            self._record(request)
            return False
        self._record(request)
        if command == "bind_transceiver":
            if self.behaviour.never_answer == "bind":
                return True
            status = c.SMPP_ESME_RINVPASWD if self.behaviour.refuse_bind else c.SMPP_ESME_ROK
            _reply(conn, request, sequences, "bind_transceiver_resp", status, system_id="test")
        elif command == "submit_sm":
            return self._answer_submit(conn, request, sequences)
        elif command == "enquire_link":
            _reply(conn, request, sequences, "enquire_link_resp")
        elif command == "unbind":
            _reply(conn, request, sequences, "unbind_resp")
            return False
        return True

    def _answer_submit(self, conn: socket.socket, request, sequences: _Sequences) -> bool:
        behaviour = self.behaviour
        if behaviour.never_answer == "submit":
            return True
        if behaviour.throttle_submits > 0:
            behaviour.throttle_submits -= 1
            _reply(conn, request, sequences, "submit_sm_resp", c.SMPP_ESME_RTHROTTLED)
            return True
        message_id = f"msg-{next(self._ids)}"
        _reply(conn, request, sequences, "submit_sm_resp", message_id=message_id)
        self._answered_submits += 1
        if behaviour.send_receipts:
            self._send_receipt(conn, request, sequences, message_id)
        if behaviour.drop_after_submits == self._answered_submits and not behaviour.drop_unanswered:
            behaviour.drop_after_submits = None  # once: the retry gets through
            return False
        return True

    def _must_drop_unanswered(self) -> bool:
        behaviour = self.behaviour
        if behaviour.drop_unanswered and behaviour.drop_after_submits == self._answered_submits:
            behaviour.drop_after_submits = None
            return True
        return False

    def _send_receipt(self, conn, request, sequences: _Sequences, message_id: str) -> None:
        text = f"id:{message_id} sub:001 dlvrd:001 submit date:2611240900 done date:2611240900 "
        receipt = smpp.make_pdu(
            "deliver_sm",
            client=sequences,
            source_addr=request.destination_addr.decode(),
            destination_addr=request.source_addr.decode(),
            esm_class=RECEIPT_ESM_CLASS,
            short_message=(text + "stat:DELIVRD err:000 text:").encode(),
        )
        conn.sendall(receipt.generate())

    def _record(self, request) -> None:
        def text(value):
            return value.decode() if isinstance(value, bytes) else value

        with self._lock:
            self.received.append(
                Received(
                    command=request.command,
                    sequence=request.sequence,
                    destination=text(getattr(request, "destination_addr", None)),
                    source=text(getattr(request, "source_addr", None)),
                    short_message=getattr(request, "short_message", None) or b"",
                    data_coding=getattr(request, "data_coding", None),
                    esm_class=getattr(request, "esm_class", None),
                    system_id=text(getattr(request, "system_id", None)),
                )
            )


def _read_pdu(conn: socket.socket, sequences: _Sequences):
    header = _read_exact(conn, 16)
    if header is None:
        return None
    length = struct.unpack(">LLLL", header)[0]
    body = _read_exact(conn, length - 16) if length > 16 else b""
    if body is None:
        return None
    return smpp.parse_pdu(header + body, client=sequences, allow_unknown_opt_params=True)


def _read_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _reply(conn, request, sequences, command: str, status: int = c.SMPP_ESME_ROK, **fields):
    response = smpp.make_pdu(command, client=sequences, **fields)
    response.sequence = request.sequence  # make_pdu ignores a sequence= argument
    response.status = status
    conn.sendall(response.generate())


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


def join_parts(submits: list[Received]) -> str:
    """The text of UCS-2 parts (each with its 6-byte concatenation header), joined in order."""
    chunks = {}
    for pdu in submits:
        payload = pdu.short_message
        if pdu.esm_class and pdu.esm_class & c.SMPP_GSMFEAT_UDHI:
            chunks[payload[5]] = payload[6:]
        else:
            chunks[1] = payload
    return b"".join(chunks[n] for n in sorted(chunks)).decode("utf-16-be")
