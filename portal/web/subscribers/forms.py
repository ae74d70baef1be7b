"""The onboarding form: what the contract says about the new subscriber."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.domain import ledger, subscribers
from portal.web.forms import Form
from portal.web.validators import phone_field, printable, text_field


class SearchForm(Form):
    """The subscriber search (a GET form: nothing to protect with a CSRF token)."""

    class Meta:
        csrf = False

    # Cut, not refused: the box takes 100 characters, a longer link is no one's typing.
    q = StringField(
        default="",
        filters=[lambda value: (value or "")[: subscribers.SEARCH_TEXT_MAX]],
        # A NUL is no text PostgreSQL compares: refused here rather than a 500 there.
        validators=[printable],
    )


class OnboardingForm(Form):
    contract = StringField(
        _l("Contract number"),
        validators=[
            InputRequired(_l("Enter the contract number.")),
            Regexp(
                subscribers.CONTRACT_RE,
                message=_l("Letters, digits, “-” or “/”, up to 32 characters."),
            ),
        ],
    )
    name = text_field(
        _l("Full name"),
        _l("Enter the subscriber's name."),
        subscribers.NAME_MAX,
        blank_is_missing=True,
    )
    phone = phone_field(_l("Mobile phone"))
    address = text_field(
        _l("Address"), _l("Enter the address."), subscribers.ADDRESS_MAX, blank_is_missing=True
    )
    district = SelectField(_l("District"), validate_choice=True)
    internet = SelectField(_l("Internet tariff"), validate_choice=True)
    tv = SelectField(_l("TV tariff"), validate_choice=True)
    # Checked below: WTForms' own message for a list has no Russian translation.
    addons = SelectMultipleField(
        _l("Add-ons"),
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def offer(self, catalogue, districts) -> "OnboardingForm":
        """Fill the choices from the catalogue and the configured districts."""
        none = [("", _l("None"))]
        self.district.choices = [("", _l("Choose the district"))] + [(d, d) for d in districts]
        self.internet.choices = none + [(t.code, t.name) for t in catalogue.internet]
        self.tv.choices = none + [(t.code, t.name) for t in catalogue.tv]
        self.addons.choices = [(s.code, s.name) for s in catalogue.addons]
        return self

    def validate_district(self, field) -> None:
        if not field.data:
            raise ValidationError(_l("Choose the district."))

    def validate_addons(self, field) -> None:
        offered = {code for code, _label in field.choices}
        if any(code not in offered for code in field.data or ()):
            raise ValidationError(_l("Choose add-ons from the list."))


class CorrectionForm(Form):
    amount = text_field(_l("Sum, ₽ (minus to take off)"), _l("Enter the sum."), 32)
    reason = text_field(
        _l("Reason"),
        _l("Say why the balance is corrected."),
        ledger.REASON_MAX,
        field=TextAreaField,
        blank_is_missing=True,  # the ledger keeps the reason stripped
    )
    # One key per form shown: a double click or a resent form corrects once.
    key = HiddenField(
        validators=[InputRequired(), Length(min=16, max=64), Regexp(r"^[A-Za-z0-9_-]+$")]
    )


class BlockForm(Form):
    """Block or unblock by the provider: the reason is the confirmation."""

    # Not "reason": the correction's form on the same card has that field (and its id).
    block_reason = text_field(
        _l("Reason"),
        _l("Say why."),
        subscribers.BLOCK_REASON_MAX,
        field=TextAreaField,
    )
