"""The VAPID key pair that signs every push (RFC 8292): made once by `portal push keys`
into the instance folder (never committed), or given in the environment."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_FILE = "vapid.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def private_key_from(text: str) -> ec.EllipticCurvePrivateKey:
    """The private key from its 32 raw bytes in base64url; ValueError if it is none."""
    raw = b64url_decode(text.strip())
    if len(raw) != 32:
        raise ValueError("a VAPID private key is 32 bytes in base64url")
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def public_key_of(private_text: str) -> str:
    """The public key the browser subscribes with (applicationServerKey): the uncompressed
    P-256 point in base64url."""
    point = (
        private_key_from(private_text)
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    return b64url(point)


def generate() -> dict[str, str]:
    """A new key pair: {"private_key", "public_key"}, both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    return {"private_key": private, "public_key": public_key_of(private)}


def key_file(instance_path: str) -> Path:
    return Path(instance_path) / KEY_FILE


def write_instance_keys(instance_path: str, *, replace: bool = False) -> dict[str, str]:
    """Generate the keys into instance/vapid.json (owner-only), unless there already are
    some: new keys end every device's subscription, so replacing them is asked for."""
    path = key_file(instance_path)
    if path.exists() and not replace:
        return read_instance_keys(instance_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = generate()
    partial = path.with_suffix(".tmp")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f)
    partial.replace(path)
    return keys


def read_instance_keys(instance_path: str) -> dict[str, str]:
    """The keys in instance/vapid.json, or {} when there is no such file."""
    path = key_file(instance_path)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {"private_key": data["private_key"], "public_key": public_key_of(data["private_key"])}
