"""Time-based one-time codes (RFC 6238), as authenticator apps make them.

Codes are 6 digits for 30-second steps; one step either side is accepted for a phone
whose clock is a little off. The caller keeps the last step it accepted, so a code seen
once (over a shoulder, in a proxy's log) is never accepted again.
"""

import hmac
import secrets
from datetime import datetime

import pyotp

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to misread on paper


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The step a code belongs to, if it is right for now (± the drift) and newer than
    `last_step`; None otherwise."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now_step = int(at.timestamp()) // STEP_SECONDS
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        expected = totp.at(step * STEP_SECONDS)
        if hmac.compare_digest(expected, code) and (last_step is None or step > last_step):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes like 'k3x9-p2mh', each good for one sign-in without the app."""
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]


def normalised_recovery_code(text: str) -> str:
    return text.strip().lower().replace(" ", "")
