"""The history's filters: a GET form, so a filtered view is a URL to bookmark or send."""

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import AnyOf, ValidationError

from portal.domain.history import PERIOD_MONTHS
from portal.models import EntryKind
from portal.web.forms import Form
from portal.web.ids import MAX_ID
from portal.web.validators import day_field, days_in_order

PERIODS = ("", *PERIOD_MONTHS, "custom")
KINDS = ("", *(kind.value for kind in EntryKind))


def cursor_value(form, field) -> None:
    """The `before` of a "more" link: a row id, kept in `field.id_value` (None: none)."""
    field.id_value = None
    text = field.data or ""
    if not text:
        return
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))
    if not digits or not 1 <= int(text) <= MAX_ID:
        raise ValidationError(
            _l("This link to earlier entries is broken. Open the history from the start.")
        )
    field.id_value = int(text)


class HistoryFilterForm(Form):
    """Period (a named one, or custom days), kind, and the page's cursor."""

    class Meta:
        csrf = False  # a GET form: it changes nothing

    period = StringField(
        _l("Period"),
        default="",
        validators=[AnyOf(PERIODS, message=_l("Choose a period from the list."))],
    )
    since = day_field(_l("First day"))
    until = day_field(_l("Last day"))
    kind = StringField(
        _l("What"),
        default="",
        validators=[AnyOf(KINDS, message=_l("Choose what to show from the list."))],
    )
    before = StringField(validators=[cursor_value])

    def validate(self, extra_validators=None) -> bool:
        return super().validate(extra_validators) and days_in_order(self)

    @property
    def custom(self) -> bool:
        """Days typed in rather than a named period."""
        return self.period.data == "custom" or (
            not self.period.data and bool(self.since.data or self.until.data)
        )

    def query_args(self) -> dict:
        """The filters as the URL's query (what the "more" and CSV links carry)."""
        args = {"period": self.period.data, "kind": self.kind.data}
        if self.custom:
            args.update(period="custom", since=self.since.data, until=self.until.data)
        return {name: value for name, value in args.items() if value}
