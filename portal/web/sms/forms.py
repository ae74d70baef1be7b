"""The SMS log's filters."""

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import AnyOf, Length

from portal.models import SmsStatus
from portal.web.forms import Form
from portal.web.validators import contract_filter_field, day_field, days_in_order, printable


class SmsFilterForm(Form):
    """A GET form: nothing to protect with a CSRF token."""

    class Meta:
        csrf = False

    since = day_field(_l("From"))
    until = day_field(_l("To"))
    status = StringField(
        _l("Status"),
        default="",
        validators=[
            AnyOf(("", *(s.value for s in SmsStatus)), message=_l("Choose a status from the list."))
        ],
    )
    contract = contract_filter_field()
    phone = StringField(
        _l("Phone or its last digits"),
        default="",
        validators=[Length(max=32, message=_l("Too long for a phone number.")), printable],
    )

    def validate(self, extra_validators=None) -> bool:
        return super().validate(extra_validators) and days_in_order(self)
