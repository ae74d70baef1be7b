"""The bank payment QR code, checked against GOST R 56042-2014."""

import pytest
import segno

from portal.domain.errors import InvalidInput
from portal.domain.payments import qr

DETAILS = qr.BankDetails(
    name='ООО "ВанСити"',
    personal_acc="40702810000000000001",
    bank_name="РНКБ Банк (ПАО)",
    bic="043510607",
    corresp_acc="30101810335100000607",
    inn="9103000000",
    kpp="910301001",
)


def make(**kw):
    args = {"amount": 150050, "purpose": "Оплата услуг связи, договор 100234", "pers_acc": "100234"}
    return qr.payload(DETAILS, **(args | kw))


def test_payload_is_the_standard_text_in_order():
    assert make() == (
        'ST00012|Name=ООО "ВанСити"|PersonalAcc=40702810000000000001|'
        "BankName=РНКБ Банк (ПАО)|BIC=043510607|CorrespAcc=30101810335100000607|"
        "PayeeINN=9103000000|KPP=910301001|Sum=150050|"
        "Purpose=Оплата услуг связи, договор 100234|PersAcc=100234|TechCode=09"
    )


def test_header_says_utf8_and_the_required_fields_come_first():
    fields = make().split("|")
    assert fields[0] == "ST00012"  # ST0001 + encoding 2 (UTF-8)
    keys = [f.split("=", 1)[0] for f in fields[1:]]
    assert keys[:5] == ["Name", "PersonalAcc", "BankName", "BIC", "CorrespAcc"]
    assert keys[5:] == ["PayeeINN", "KPP", "Sum", "Purpose", "PersAcc", "TechCode"]


@pytest.mark.parametrize("kopecks", [1000, 48000, 150050, 10000000])
def test_sum_is_in_kopecks(kopecks):
    assert f"|Sum={kopecks}|" in make(amount=kopecks)


def test_without_a_sum_the_bank_app_asks_for_it():
    assert "Sum=" not in make(amount=None)


def test_separator_and_line_breaks_never_reach_a_free_text_field():
    text = make(purpose="Оплата | услуг\nсвязи", pers_acc="10|02")
    assert "Purpose=Оплата услуг связи|" in text and "PersAcc=10 02|" in text


@pytest.mark.parametrize(
    "field, value",
    [
        ("personal_acc", "4070281000000000000"),  # 19 digits
        ("bic", "04351060A"),
        ("corresp_acc", ""),
        ("inn", "12345"),
        ("kpp", "1234567890"),
        ("name", "Сеть|Плюс"),
        ("name", "x" * 161),
        ("bank_name", "Б" * 46),
    ],
)
def test_bad_bank_details_are_refused(field, value):
    details = qr.BankDetails(**{**DETAILS.__dict__, field: value})
    with pytest.raises(qr.BankDetailsInvalid):
        qr.payload(details, amount=100, purpose="x", pers_acc="1")


@pytest.mark.parametrize("amount", [0, -100, 10**18])
def test_bad_sums_are_refused(amount):
    with pytest.raises(InvalidInput):
        make(amount=amount)


def test_required_block_fits_300_bytes():
    long_name = "Я" * 160  # 320 bytes in UTF-8
    details = qr.BankDetails(**{**DETAILS.__dict__, "name": long_name})
    with pytest.raises(qr.BankDetailsInvalid, match="300 bytes"):
        qr.payload(details, amount=100, purpose="x", pers_acc="1")


def test_svg_encodes_the_utf8_bytes_in_byte_mode_level_m():
    text = make()
    code = segno.make(text, error="m", encoding="utf-8", micro=False)
    assert code.mode == "byte" and code.error == "M"
    svg = qr.svg(text)
    assert svg.startswith(b"<?xml") and b"<svg" in svg and b"<script" not in svg
    # The payload's bytes are exactly the UTF-8 encoding of the text (no ECI, no BOM).
    assert text.encode("utf-8").startswith(b"ST00012|Name=\xd0\x9e")


def test_a_qr_reader_gets_the_exact_payload_back():
    """What a bank app's camera reads: the drawn code decoded by zxing-cpp."""
    import io

    import zxingcpp
    from PIL import Image

    text = make()
    png = io.BytesIO()
    qr.code(text).save(png, kind="png", scale=4, border=4)
    png.seek(0)
    (found,) = zxingcpp.read_barcodes(Image.open(png))
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    assert found.text == text
