"""Phone numbers: parsed the way people write them, stored in E.164."""

import phonenumbers

from portal.domain.errors import InvalidInput

DEFAULT_REGION = "RU"


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """'8 978 000-00-00', '+7 (978) 0000000', '79780000000' -> '+79780000000'."""
    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise InvalidInput("phone")
    digits = "".join(ch for ch in text if ch.isdigit())
    # Written without the plus but with the country code, as people often do.
    if not text.startswith(("+", "8")) and len(digits) == 11 and digits.startswith("7"):
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display(e164: str) -> str:
    """A number as people read it: +7 978 000-00-00."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
