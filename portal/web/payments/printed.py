"""A payment's receipt in the reader's language: its facts (the page and the PDF list
the same ones), and the PDF, made on the server with fpdf2 on A4, set in the bundled
DejaVu Sans (portal/fonts/, its licence beside it), so Cyrillic and the ₽ sign come out
the same on any server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask_babel import get_locale
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from portal.domain.payments.receipts import ReceiptDetails, Requisites
from portal.web.filters import moment, money
from portal.web.payments.messages import fiscal_registration, method_name

FONTS = Path(__file__).resolve().parents[2] / "fonts"
FONT = "DejaVuSans"
LABEL_WIDTH = 62  # mm, of the 180 between the margins


def pdf_bytes(receipt: ReceiptDetails, requisites: Requisites) -> bytes:
    """The PDF's bytes."""
    pdf = FPDF(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    title = _("Payment receipt") + f" № {receipt.number}"
    pdf.set_title(title)
    pdf.set_author(requisites.brand)
    pdf.set_creator(requisites.brand)
    pdf.set_lang(str(get_locale() or "ru"))
    pdf.add_page()

    if receipt.test:
        _paragraph(
            pdf,
            _("TEST MODE: this payment was made with a test card; no real money moved."),
            bold=True,
        )
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(
        0, 5, requisites.brand + " · " + requisites.site, align="L", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(2)
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(0, 8, title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    _facts(pdf, payment_facts(receipt))
    if receipt.refunds:
        pdf.ln(2)
        _paragraph(pdf, refund_summary(receipt), bold=True)
        _facts(pdf, refund_facts(receipt))

    _heading(pdf, _("Payee"))
    _facts(pdf, payee_facts(requisites))

    _heading(pdf, _("Fiscal receipt"))
    _paragraph(
        pdf,
        _(
            "This page is the portal's confirmation of the payment, not a fiscal receipt. "
            "The fiscal receipt (54-FZ) is issued by the payment service and sent to your "
            "phone or e-mail."
        ),
    )
    fiscal = fiscal_facts(receipt)
    if fiscal:
        _facts(pdf, fiscal)
    else:
        _paragraph(pdf, _("The payment service has not reported the fiscal receipt's details yet."))
    return bytes(pdf.output())


def payment_facts(receipt: ReceiptDetails) -> list[tuple[str, str]]:
    """The payment, as the page and the PDF list it."""
    acquirer = receipt.acquirer
    if receipt.acquirer_payment_id:
        acquirer += ", " + receipt.acquirer_payment_id
    return [
        (_("Date and time"), moment(receipt.paid_at)),
        (_("Payer"), receipt.payer),
        (_("Contract number"), receipt.contract_number),
        (_("Personal account number"), receipt.personal_account),
        (_("Sum"), money(receipt.amount, receipt.currency)),
        (_("Paid by"), method_name(receipt.method)),
        (_("Payment service"), acquirer),
        (_("Payment number"), str(receipt.payment_id)),
    ]


def refund_summary(receipt: ReceiptDetails) -> str | None:
    """Whether the payment was given back, in full or in part (None: it was not)."""
    if not receipt.refunds:
        return None
    if receipt.refunded_in_full:
        return _("This payment was refunded in full.")
    return _(
        "Part of this payment was refunded: %(refunded)s of %(paid)s.",
        refunded=money(receipt.refunded, receipt.currency),
        paid=money(receipt.amount, receipt.currency),
    )


def refund_facts(receipt: ReceiptDetails) -> list[tuple[str, str]]:
    """Each refund of the payment: how much, and when it was debited."""
    return [
        (_("Refunded"), f"{money(refund.amount, receipt.currency)}, {moment(refund.refunded_at)}")
        for refund in receipt.refunds
    ]


def payee_facts(requisites: Requisites) -> list[tuple[str, str]]:
    """The provider's requisites (the bank's only where they are the provider's own)."""
    facts = [(_("Provider"), requisites.brand)]
    bank = requisites.bank
    if bank is not None:
        facts += [(_("Legal name"), bank.name), (_("INN / KPP"), f"{bank.inn} / {bank.kpp}")]
        if requisites.ogrn:
            facts.append((_("OGRN"), requisites.ogrn))
        if requisites.legal_address:
            facts.append((_("Legal address"), requisites.legal_address))
        facts += [
            (_("Bank account"), bank.personal_acc),
            (_("Bank"), bank.bank_name),
            (_("BIC"), bank.bic),
            (_("Correspondent account"), bank.corresp_acc),
        ]
    facts += [(_("Website"), requisites.site), (_("Support phone"), requisites.support_phone)]
    return facts


def fiscal_facts(receipt: ReceiptDetails) -> list[tuple[str, str]]:
    """What the acquirer reported about the fiscal receipt, labelled."""
    labels = {
        "fiscal_document_number": _("Fiscal document number (FD)"),
        "fiscal_storage_number": _("Fiscal storage number (FN)"),
        "fiscal_attribute": _("Fiscal attribute (FPD)"),
        "registered_at": _("Registered at"),
        "fiscal_provider_id": _("Fiscal data operator's receipt id"),
        "url": _("Fiscal receipt online"),
    }
    facts = []
    if receipt.fiscal_registration:
        facts.append((_("Registration"), fiscal_registration(receipt.fiscal_registration)))
    for key, value in receipt.fiscal.items():
        facts.append((labels[key], _moment_or_text(value) if key == "registered_at" else value))
    return facts


def _moment_or_text(value: str) -> str:
    """A moment the acquirer wrote in ISO 8601, as the portal writes moments."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment(parsed) if parsed.tzinfo is not None else value


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(4)
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 7, text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _paragraph(pdf: FPDF, text: str, *, bold: bool = False) -> None:
    pdf.set_font(FONT, "B" if bold else "", 10)
    pdf.multi_cell(0, 5, text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _facts(pdf: FPDF, facts: list[tuple[str, str]]) -> None:
    pdf.set_font(FONT, "", 10)
    with pdf.table(
        col_widths=(LABEL_WIDTH, 180 - LABEL_WIDTH),
        first_row_as_headings=False,
        text_align=("LEFT", "LEFT"),
        borders_layout="HORIZONTAL_LINES",
        line_height=6,
        padding=(1, 1),
    ) as table:
        for label, value in facts:
            row = table.row()
            row.cell(label, style=FontFace(color=(80, 86, 96)))
            # A web address (the fiscal receipt online) opens from the PDF as from the page;
            # nothing else the acquirer sends becomes a link.
            link = value if value.startswith("https://") else None
            row.cell(value, style=FontFace(emphasis="BOLD"), link=link)
