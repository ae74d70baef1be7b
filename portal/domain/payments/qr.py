"""The bank payment QR code of GOST R 56042-2014, for paying from any Russian bank app.

    ST00012|Name=...|PersonalAcc=...|BankName=...|BIC=...|CorrespAcc=...|PayeeINN=...|
    KPP=...|Sum=<kopecks>|Purpose=...|PersAcc=<contract>|TechCode=09

"ST0001" and the encoding digit 2 (UTF-8), then `|`-separated fields: the five required
ones in the standard's order (their block at most 300 bytes), then the optional ones.
Money paid this way is an ordinary bank transfer: it reaches the balance from the
provider's bank statement, not through the portal.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass

import segno

from portal.domain.errors import InvalidInput

HEADER = "ST00012"  # format ST0001, encoding 2 = UTF-8
SEPARATOR = "|"
TECH_CODE_INTERNET_TV = "09"
REQUIRED_BLOCK_MAX_BYTES = 300


class BankDetailsInvalid(InvalidInput):
    """The provider's bank details in configuration do not fit the standard."""


@dataclass(frozen=True)
class BankDetails:
    name: str  # the payee, <= 160
    personal_acc: str  # the payee's account, 20 digits
    bank_name: str  # <= 45
    bic: str  # 9 digits
    corresp_acc: str  # the bank's correspondent account, 20 digits
    inn: str  # the payee's INN, 10 (a company) or 12 digits
    kpp: str  # 9 digits

    @classmethod
    def from_config(cls, config: Mapping) -> BankDetails:
        return cls(
            name=config["PORTAL_BANK_PAYEE_NAME"],
            personal_acc=config["PORTAL_BANK_ACCOUNT"],
            bank_name=config["PORTAL_BANK_NAME"],
            bic=config["PORTAL_BANK_BIC"],
            corresp_acc=config["PORTAL_BANK_CORRESPONDENT_ACCOUNT"],
            inn=config["PORTAL_BANK_PAYEE_INN"],
            kpp=config["PORTAL_BANK_PAYEE_KPP"],
        )


_DIGITS = {
    "PersonalAcc": (20,),
    "BIC": (9,),
    "CorrespAcc": (20,),
    "PayeeINN": (10, 12),
    "KPP": (9,),
}
_MAX_LEN = {"Name": 160, "BankName": 45, "Purpose": 210, "PersAcc": 60}


def _check(key: str, value: str) -> str:
    if not value:
        raise BankDetailsInvalid(f"{key} is empty")
    if SEPARATOR in value or any(ord(ch) < 32 for ch in value):
        raise BankDetailsInvalid(f"{key} contains '|' or a control character")
    if key in _DIGITS and not (value.isdigit() and len(value) in _DIGITS[key]):
        lengths = " or ".join(str(n) for n in _DIGITS[key])
        raise BankDetailsInvalid(f"{key} must be {lengths} digits")
    if key in _MAX_LEN and len(value) > _MAX_LEN[key]:
        raise BankDetailsInvalid(f"{key} is longer than {_MAX_LEN[key]} characters")
    return value


def _clean(text: str) -> str:
    """Free text fit for a field: no separator, no line breaks."""
    return re.sub(r"\s+", " ", re.sub(r"[|\r\n\t]", " ", text)).strip()


def payload(details: BankDetails, *, amount: int | None, purpose: str, pers_acc: str) -> str:
    """The text of the QR code. `amount` in kopecks (None: the payer types the sum)."""
    required = [
        ("Name", details.name),
        ("PersonalAcc", details.personal_acc),
        ("BankName", details.bank_name),
        ("BIC", details.bic),
        ("CorrespAcc", details.corresp_acc),
    ]
    optional = [("PayeeINN", details.inn), ("KPP", details.kpp)]
    if amount is not None:
        if not isinstance(amount, int) or amount <= 0 or len(str(amount)) > 18:
            raise InvalidInput("Sum must be a positive number of kopecks, at most 18 digits")
        optional.append(("Sum", str(amount)))
    optional += [
        ("Purpose", _clean(purpose)[: _MAX_LEN["Purpose"]]),
        ("PersAcc", _clean(pers_acc)),
        ("TechCode", TECH_CODE_INTERNET_TV),
    ]
    fields = [f"{key}={_check(key, value)}" for key, value in required]
    head = SEPARATOR.join([HEADER, *fields])
    if len(head.encode("utf-8")) > REQUIRED_BLOCK_MAX_BYTES:
        raise BankDetailsInvalid("the required block is longer than 300 bytes")
    fields += [f"{key}={_check(key, value)}" for key, value in optional]
    return SEPARATOR.join([HEADER, *fields])


def code(text: str) -> segno.QRCode:
    """The QR code of the text: its UTF-8 bytes, error correction level M."""
    return segno.make(text, error="m", encoding="utf-8", micro=False)


def svg(text: str, *, scale: int = 8) -> bytes:
    """The QR code as an SVG document, with the quiet zone of four modules the standard
    asks for."""
    out = io.BytesIO()
    code(text).save(out, kind="svg", scale=scale, border=4, dark="#000", light="#fff", title="QR")
    return out.getvalue()
