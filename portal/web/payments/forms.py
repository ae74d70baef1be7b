from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, Regexp

from portal.models import PaymentStatus
from portal.web.forms import Form
from portal.web.validators import (
    contract_filter_field,
    day_field,
    days_in_order,
    printable,
    printable_lines,
)


class PayForm(Form):
    """The Pay form. The amount is read by portal.domain.payments.amounts, not here."""

    amount = StringField(
        _l("Amount, ₽"),
        validators=[
            InputRequired(_l("Enter the amount.")),
            Length(
                max=32, message=_l("Enter the amount in roubles as a number, e.g. 1500 or 1500,50.")
            ),
            printable,
        ],
    )
    # Radio buttons drawn by the template (card, sbp).
    method = StringField(
        _l("How to pay"),
        default="card",
        validators=[AnyOf(("card", "sbp"), message=_l("Choose how to pay."))],
    )
    # A fresh random key in every rendered form: sending the same form twice finds the
    # payment it made the first time.
    creation_key = HiddenField(
        validators=[
            InputRequired(_l("The form has expired. Reload the page and try again.")),
            Regexp(
                r"^[0-9a-f]{32}$",
                message=_l("The form has expired. Reload the page and try again."),
            ),
        ]
    )
    currency = HiddenField(default="RUB")


class ResolutionForm(Form):
    """How the staff resolve an item of a payments queue: the button pressed (`action`),
    why, and the form's own key (a resent form resolves once)."""

    action = StringField(validators=[InputRequired(_l("Choose what to do."))])
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            InputRequired(_l("Say why.")),
            Length(max=300, message=_l("Too long: at most %(max)d characters.")),
            printable_lines,  # a text box: Enter is a line break
        ],
    )
    key = HiddenField(
        validators=[InputRequired(), Length(min=16, max=64), Regexp(r"^[A-Za-z0-9_-]+$")]
    )


class PaymentFilterForm(Form):
    """The payment log's filters (a GET form: nothing to protect with a CSRF token)."""

    class Meta:
        csrf = False

    since = day_field(_l("From"))
    until = day_field(_l("To"))
    state = StringField(
        _l("State"),
        default="",
        validators=[
            AnyOf(
                ("", *(s.value for s in PaymentStatus)), message=_l("Choose a state from the list.")
            )
        ],
    )
    contract = contract_filter_field()

    def validate(self, extra_validators=None) -> bool:
        return super().validate(extra_validators) and days_in_order(self)
