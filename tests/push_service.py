"""A push service for the tests: an HTTP server on 127.0.0.1 that records every request
and answers with the statuses a test queues (201 when none is queued); and a Browser,
which keeps what a real one keeps of its subscription, to decrypt what arrived."""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class PushService:
    def __init__(self):
        self.received: list[Received] = []
        self.answered: list[Received] = []  # those it answered (an acknowledgement: 2xx)
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.by_path: dict[str, int] = {}  # a device's own status, whatever is queued
        self._lock = threading.Lock()
        self._hold_from: int | None = None  # requests from this one on are held (`hold`)
        self._released = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with service._lock:
                    held = service._hold_from is not None and (
                        len(service.received) >= service._hold_from
                    )
                    service.received.append(request)
                    if not held:
                        status, headers = service.answers.pop(0) if service.answers else (201, {})
                        status = service.by_path.get(self.path, status)
                if held:
                    # Taken in, never answered: the sender waits (or dies) meanwhile.
                    service._released.wait(60)
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if 200 <= status < 300:
                    with service._lock:
                        service.answered.append(request)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def hold(self, after: int = 0) -> None:
        """Answer `after` more pushes, then take each one in and never answer it (its
        sender waits), until `answer_again`: those held are then dropped unanswered."""
        with self._lock:
            self._released.clear()
            self._hold_from = len(self.received) + after

    def answer_again(self) -> None:
        with self._lock:
            self._hold_from = None
            self._released.set()

    def answer(self, status: int, **headers: str) -> None:
        """The next request gets `status` (then the one after, as queued)."""
        self.answers.append((status, headers))

    def __enter__(self) -> PushService:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.answer_again()  # let any held request end
        self.server.shutdown()
        self.server.server_close()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Browser:
    """What a browser keeps of its subscription: the ECDH key pair and the auth secret."""

    def __init__(self, endpoint: str):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.endpoint = endpoint

    def subscription(self) -> dict:
        point = self.private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(point), "auth": b64(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)
