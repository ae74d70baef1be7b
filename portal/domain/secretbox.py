"""Encryption at rest for the few texts that must be kept a while yet hold a secret
(an SMS carrying a new password waits in the outbox until it is sent).

The key is derived from SECRET_KEY, which the caller hands in, so there is no second
secret to manage; rotating SECRET_KEY makes such waiting texts unreadable, which only
costs a resend.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal secretbox").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str, secret_key: str) -> str:
    """`text` encrypted and authenticated with a key derived from `secret_key`."""
    return _fernet(secret_key).encrypt(text.encode()).decode()


def unseal(token: str, secret_key: str) -> str | None:
    """The text, or None when it cannot be read (another key, or tampered with)."""
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
