"""Encryption at rest for the few texts that must be kept a while yet hold a secret
(an SMS carrying a new password waits in the outbox until it is sent).

The key is derived from SECRET_KEY, so there is no second secret to manage; rotating
SECRET_KEY makes such waiting texts unreadable, which only costs a resend.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal secretbox").derive(
        secret
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def unseal(token: str) -> str | None:
    """The text, or None when it cannot be read (another key, or tampered with)."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
