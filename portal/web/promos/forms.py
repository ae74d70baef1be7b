"""The promotions' forms in the console: compose or edit, the picture, and the buttons
that publish, withdraw and push (the CSRF token alone)."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.domain.payments.amounts import format_plain
from portal.domain.promos.promotions import TEXT_MAX, TITLE_MAX
from portal.web.forms import FileForm, Form
from portal.web.validators import TOO_LONG, printable_lines, required_day_field, text_field

NO_ACTION = ""


class PromotionForm(Form):
    title = text_field(_l("Title"), _l("Enter the title."), TITLE_MAX)
    text = TextAreaField(
        _l("Terms"),
        validators=[
            InputRequired(_l("Enter the terms of the promotion.")),
            Length(max=TEXT_MAX, message=TOO_LONG),
            printable_lines,
        ],
    )
    starts_on = required_day_field(_l("First day"), _l("Enter the first day."))
    ends_on = required_day_field(_l("Last day"), _l("Enter the last day."))
    tariffs = SelectMultipleField(_l("Only for holders of these tariffs"), coerce=int)
    districts = SelectMultipleField(_l("Only in these districts"))
    action = SelectField(_l("Action"))
    # Read by the view into kopecks and months; the domain checks them (promotions.check).
    promo_price = StringField(_l("Promotional price a month, ₽ (empty: the catalogue's)"))
    promo_months = StringField(_l("For how many months from the connection"))

    def offer(self, tariffs, districts, addons) -> "PromotionForm":
        """Fill the choices: the catalogue's tariffs and add-ons, the districts."""
        self.tariffs.choices = [(t.id, t.name) for t in tariffs]
        self.districts.choices = [(d, d) for d in districts]
        self.action.choices = [(NO_ACTION, _l("No action"))] + [
            (str(a.id), _l("Connect the service %(name)s", name=a.name)) for a in addons
        ]
        return self

    def fill(self, promotion) -> None:
        self.title.data = promotion.title
        self.text.data = promotion.text
        self.starts_on.data = promotion.starts_on.isoformat()
        self.ends_on.data = promotion.ends_on.isoformat()
        self.tariffs.data = list(promotion.tariff_ids)
        self.districts.data = list(promotion.districts)
        self.action.data = str(promotion.action_service_id or NO_ACTION)
        if promotion.promo_price is not None:
            self.promo_price.data = format_plain(promotion.promo_price)
            self.promo_months.data = str(promotion.promo_months)


class ImageForm(FileForm):
    image = FileField(
        _l("Picture (JPEG, PNG or WebP)"), validators=[FileRequired(_l("Choose the picture."))]
    )


class ActionForm(Form):
    """Publish, withdraw, push, remove the picture: the token alone."""
