"""How the promotion pages name states and refusals, in the reader's language."""

from flask_babel import lazy_gettext as _l

from portal.models import PromotionState

STATES = {
    PromotionState.DRAFT: _l("Draft"),
    PromotionState.PUBLISHED: _l("Published"),
    PromotionState.WITHDRAWN: _l("Withdrawn"),
}
# InvalidInput's codes from portal.domain.promos, as marketing reads them.
INPUT_MESSAGES = {
    "title": _l("Enter the title."),
    "text": _l("Enter the terms of the promotion."),
    "dates_order": _l("The last day cannot come before the first."),
    "dates_too_long": _l("A promotion runs for a year at most."),
    "tariffs": _l("Choose tariffs from the catalogue."),
    "districts": _l("Choose districts from the list."),
    "action": _l("That service is not offered."),
    "promo_without_action": _l("A promotional price needs the action that connects a service."),
    "promo_incomplete": _l("Enter both the promotional price and for how many months."),
    "promo_price": _l("The promotional price is a sum from 0 up to the service's own price."),
    "promo_months": _l("The promotional price lasts from 1 to 24 months."),
    "ended": _l("The promotion's last day has passed: change the dates first."),
    "too_big": _l("The picture is too large: at most %(size)d MB and 4096×4096 pixels."),
    "type": _l("Only JPEG, PNG or WebP pictures are accepted."),
    "broken": _l("The file could not be read as a picture."),
}
