"""A local HTTP server speaking the parts of the YooKassa API v3 the SDK uses, so tests
run the real `yookassa` SDK against it (Configuration's api_url points here).

POST /v3/payments (idempotent by the Idempotence-Key header), GET /v3/payments/<id>,
GET /v3/receipts?payment_id=<id>, GET /v3/refunds/<id>; Basic auth with the configured
shop id and key.
Tests change a payment's state with `set_status` and read the requests in `requests`.
Also: `hanging_server()` accepts connections and never answers; `refused_url()` is an
address where nothing listens.
"""

import base64
import json
import socket
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SHOP_ID = "123456"
SECRET_KEY = "test_secret_key"


class FakeYooKassa:
    def __init__(self):
        self.payments: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def api_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v3"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # -- what tests do -------------------------------------------------------------------

    def set_status(self, payment_id: str, status: str, *, reason: str | None = None, **changes):
        with self.lock:
            payment = self.payments[payment_id]
            payment["status"] = status
            payment["paid"] = status in ("succeeded", "waiting_for_capture")
            if status == "succeeded":
                payment["captured_at"] = _now()
                payment["receipt_registration"] = "succeeded"
            if status == "canceled":
                payment["cancellation_details"] = {
                    "party": "yoo_money",
                    "reason": reason or "expired_on_confirmation",
                }
            payment.update(changes)
            return payment

    def add_refund(self, payment_id: str, value: str, status: str = "succeeded") -> dict:
        """A refund made in the shop's dashboard."""
        refund = {
            "id": str(uuid.uuid4()),
            "payment_id": payment_id,
            "status": status,
            "amount": {"value": value, "currency": "RUB"},
            "created_at": _now(),
        }
        with self.lock:
            self.refunds[refund["id"]] = refund
        return refund

    def refund_notification(self, refund: dict, **claims) -> bytes:
        body = {**refund, **claims}
        event = f"refund.{body['status']}"
        return json.dumps({"type": "notification", "event": event, "object": body}).encode()

    def notification(self, payment_id: str, event: str | None = None) -> bytes:
        payment = self.payments[payment_id]
        return json.dumps(
            {
                "type": "notification",
                "event": event or f"payment.{payment['status']}",
                "object": payment,
            }
        ).encode()

    # -- the API -------------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                expected = base64.b64encode(f"{SHOP_ID}:{SECRET_KEY}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._send(401, _error("invalid_credentials", "Login or password is wrong"))
                    return False
                return True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotence-Key")
                with fake.lock:
                    fake.requests.append(
                        {"method": "POST", "path": self.path, "key": key, "body": body}
                    )
                if not self._authorized():
                    return
                if urlsplit(self.path).path != "/v3/payments":
                    return self._send(404, _error("not_found", "no such path"))
                if not key:
                    return self._send(400, _error("invalid_request", "Idempotence-Key missing"))
                with fake.lock:
                    if key in fake.by_key:
                        return self._send(200, fake.payments[fake.by_key[key]])
                    payment_id = str(uuid.uuid4())
                    payment = {
                        "id": payment_id,
                        "status": "pending",
                        "paid": False,
                        "amount": body["amount"],
                        "confirmation": {
                            "type": "redirect",
                            "return_url": body["confirmation"]["return_url"],
                            "confirmation_url": "https://yoomoney.ru/checkout/payments/v2/"
                            f"contract?orderId={payment_id}",
                        },
                        "created_at": _now(),
                        "description": body.get("description", ""),
                        "metadata": body.get("metadata", {}),
                        "recipient": {"account_id": SHOP_ID, "gateway_id": "100500"},
                        "refundable": False,
                        "test": True,
                    }
                    fake.payments[payment_id] = payment
                    fake.by_key[key] = payment_id
                self._send(200, payment)

            def do_GET(self):
                with fake.lock:
                    fake.requests.append({"method": "GET", "path": self.path})
                if not self._authorized():
                    return
                parts = urlsplit(self.path)
                if parts.path.startswith("/v3/refunds/"):
                    refund = fake.refunds.get(parts.path.rsplit("/", 1)[1])
                    if refund is None:
                        return self._send(404, _error("not_found", "Refund not found"))
                    return self._send(200, refund)
                if parts.path.startswith("/v3/payments/"):
                    payment = fake.payments.get(parts.path.rsplit("/", 1)[1])
                    if payment is None:
                        return self._send(404, _error("not_found", "Payment not found"))
                    return self._send(200, payment)
                if parts.path == "/v3/receipts":
                    payment_id = parse_qs(parts.query).get("payment_id", [""])[0]
                    payment = fake.payments.get(payment_id)
                    items = []
                    registered = payment and payment.get("receipt_registration") == "succeeded"
                    if payment and payment["status"] == "succeeded" and registered:
                        items.append(
                            {
                                "id": "rt-" + payment_id,
                                "type": "payment",
                                "payment_id": payment_id,
                                "status": "succeeded",
                                "fiscal_document_number": "3986",
                                "fiscal_storage_number": "9288000100115785",
                                "fiscal_attribute": "2617603921",
                                "registered_at": _now(),
                                "fiscal_provider_id": "fd9e9404-eaca-4000-8ec9-dc228ead2345",
                                "items": [],
                            }
                        )
                    return self._send(200, {"type": "list", "items": items})
                self._send(404, _error("not_found", "no such path"))

        return Handler


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _error(code: str, description: str) -> dict:
    return {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}


@contextmanager
def hanging_server():
    """A server that accepts connections and never says a word; yields its api_url."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v3"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def refused_url() -> str:
    """An address where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v3"
