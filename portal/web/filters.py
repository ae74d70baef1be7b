"""Template filters and globals: money, dates and branding, formatted at the edge."""

import hashlib
import os
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale, dates, numbers
from flask import Flask, current_app, has_request_context, render_template, request, url_for
from flask_babel import format_currency, format_date, format_datetime, get_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from markupsafe import Markup

from portal import config
from portal.domain import audit, phones
from portal.domain.billing import Forecast
from portal.i18n import render_locale
from portal.models import (
    AccountStatus,
    EntryKind,
    PaymentMethod,
    PaymentStatus,
    ResolutionOutcome,
    SmsStatus,
    StaffRole,
    TariffKind,
)


def rub(kopecks: int, locale: Locale | None = None) -> str:
    """Kopecks as roubles in the reader's language: 1 234,50 ₽ / 1,234.50 RUB. `locale`:
    the language when the caller knows it (a template's, see in_render_language)."""
    return _roubles(kopecks, locale or get_locale(), whole=False)


def money(minor_units: int, currency: str = "RUB") -> str:
    """A sum in any currency (what an acquirer reported), from its minor units."""
    if currency == "RUB":
        return rub(minor_units)
    return format_currency(Decimal(minor_units) / 100, currency)


def rub_plain(kopecks: int, locale: Locale | None = None) -> str:
    """Whole roubles without kopecks when there are none: for prices in lists."""
    return _roubles(kopecks, locale or get_locale(), whole=not kopecks % 100)


# Babel parses the pattern and looks up the locale's symbols on every call, and a page
# formats many sums (a history page, over a hundred): a sum reads the same in a language
# as long as the process runs, so each one is formatted once.
@lru_cache(maxsize=4096)
def _roubles(kopecks: int, locale: Locale | None, *, whole: bool) -> str:
    if whole:
        return numbers.format_currency(
            Decimal(kopecks // 100),
            "RUB",
            format="#,##0\u00a0¤",
            locale=locale,
            currency_digits=False,
        )
    return numbers.format_currency(
        Decimal(kopecks) / 100, "RUB", format="#,##0.00\u00a0¤", locale=locale
    )


def rub_signed(kopecks: int, locale: Locale | None = None) -> str:
    """A sum with its sign: +500,00 ₽ in, -16,00 ₽ out."""
    return ("+" if kopecks > 0 else "") + rub(kopecks, locale)


def top_up_roubles(kopecks: int) -> int | None:
    """A suggested top-up as the Pay page's `amount` parameter: whole roubles, or None
    (no parameter) when nothing needs paying."""
    return kopecks // 100 if kopecks > 0 else None


# What codes mean, in the reader's language.
ACCOUNT_STATUSES = {
    AccountStatus.ACTIVE: _l("Active"),
    AccountStatus.BLOCKED: _l("Blocked for debt"),
    AccountStatus.SUSPENDED: _l("Suspended"),
    AccountStatus.BLOCKED_BY_PROVIDER: _l("Blocked by the provider"),
}
PAYMENT_METHODS = {
    PaymentMethod.CARD: _l("Bank card"),
    PaymentMethod.SBP: _l("SBP (Faster Payments System)"),
}
ENTRY_KINDS = {
    EntryKind.PAYMENT: _l("Payment"),
    EntryKind.CHARGE: _l("Charge"),
    EntryKind.REFUND: _l("Refund"),
    EntryKind.CREDIT: _l("Credit"),
    EntryKind.CORRECTION: _l("Correction"),
}
TARIFF_KINDS = {TariffKind.INTERNET: _l("Internet"), TariffKind.TV: _l("TV")}
SMS_STATUSES = {
    SmsStatus.PENDING: _l("waiting to be sent"),
    SmsStatus.SENT: _l("sent"),
    SmsStatus.DELIVERED: _l("delivered"),
    SmsStatus.FAILED: _l("not sent"),
}
PAYMENT_STATUSES = {
    PaymentStatus.CREATED: _l("created"),
    PaymentStatus.PENDING: _l("waiting for the payer"),
    PaymentStatus.WAITING: _l("waiting for a confirmation"),
    PaymentStatus.SUCCEEDED: _l("credited"),
    PaymentStatus.CANCELED: _l("canceled"),
    PaymentStatus.REVIEW: _l("on review"),
}
RESOLUTION_OUTCOMES = {
    ResolutionOutcome.CREDITED: _l("credited"),
    ResolutionOutcome.REFUSED: _l("refused"),
    ResolutionOutcome.APPLIED: _l("refund applied"),
    ResolutionOutcome.HANDLED: _l("marked handled"),
}
STAFF_ROLES = {
    StaffRole.ADMIN: _l("administrator"),
    StaffRole.OPERATOR: _l("operator"),
    StaffRole.DISPATCHER: _l("dispatcher"),
    StaffRole.MARKETING: _l("marketing"),
    StaffRole.ACCOUNTANT: _l("accountant"),
}


def staff_role(role: StaffRole) -> str:
    return str(STAFF_ROLES[role])


def payment_status(status: str) -> str:
    return str(PAYMENT_STATUSES[PaymentStatus(status)])


def payment_method(method: PaymentMethod) -> str:
    return str(PAYMENT_METHODS[method])


def resolution_outcome(outcome: str) -> str:
    return str(RESOLUTION_OUTCOMES[ResolutionOutcome(outcome)])


def account_status(status: AccountStatus) -> str:
    return str(ACCOUNT_STATUSES[status])


def entry_kind(kind: EntryKind) -> str:
    return str(ENTRY_KINDS[kind])


def tariff_kind(kind: TariffKind) -> str:
    return str(TARIFF_KINDS[kind])


def sms_status(status: str) -> str:
    return str(SMS_STATUSES[SmsStatus(status)])


# The fields an audit event's `before` and `after` name, and how their values read.
AUDIT_FIELDS = {
    "status": _l("Status"),
    "block_reason": _l("Reason of the block"),
    "balance": _l("Balance"),
    "password": _l("Password"),
    "must_change_password": _l("Must choose a password"),
    "failed_sign_ins": _l("Wrong passwords in a row"),
    "contract": _l("Contract"),
    "login": _l("Login"),
    "name": _l("Full name"),
    "phone": _l("Phone"),
    "address": _l("Address"),
    "district": _l("District"),
    "tariffs": _l("Tariffs"),
    "services": _l("Add-ons"),
    "queue": _l("Queue"),
    "state": _l("State"),
}
PASSWORD_VALUES = {
    audit.PASSWORD_NONE: _l("not set"),
    audit.PASSWORD_PREVIOUS: _l("the previous one"),
    audit.PASSWORD_CHANGED: _l("changed"),
}


def _audit_value(field: str, value: object) -> str:
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if field == "balance" and isinstance(value, int):
        return rub(value)
    if field == "password" and value in PASSWORD_VALUES:
        return str(PASSWORD_VALUES[value])
    if field == "status" and value in ACCOUNT_STATUSES:
        return account_status(AccountStatus(value))
    if field == "status" and value in set(PaymentStatus):
        return payment_status(value)
    if field == "queue" and value in set(ResolutionOutcome):
        return resolution_outcome(value)
    if field == "queue" and value == "open":
        return gettext("waiting")
    if field == "phone" and isinstance(value, str):
        return phones.display(value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def audit_changes(data: dict) -> list[tuple[str, str, str]]:
    """What an audit event changed, readably: (field, before, after) for every field its
    `before` or `after` names."""
    before = data.get("before") if isinstance(data.get("before"), dict) else {}
    after = data.get("after") if isinstance(data.get("after"), dict) else {}
    return [
        (
            str(AUDIT_FIELDS.get(field, field)),
            _audit_value(field, before.get(field)),
            _audit_value(field, after.get(field)),
        )
        for field in {**before, **after}
    ]


def days_left(forecast: Forecast, balance: int) -> str:
    """How long the balance lasts, as a sentence."""
    if forecast.daily_charge == 0 and forecast.days_left is None:
        return gettext("No charges at the moment.")
    if forecast.days_left is None:
        return gettext("The balance lasts more than a year.")
    if balance < 0:
        return gettext("The balance is negative: top up to keep the services on.")
    if forecast.days_left == 0:
        return gettext("The balance does not cover tomorrow: top up today.")
    return ngettext(
        "Enough for %(num)d day, until %(date)s.",
        "Enough for %(num)d days, until %(date)s.",
        forecast.days_left,
        date=day(forecast.runs_out_on),
    )


def day(value: date | datetime, style: str = "d MMMM yyyy", locale: Locale | None = None) -> str:
    """A date in the reader's language; the default reads "29 декабря 2026"."""
    if isinstance(value, datetime):  # Flask-Babel's: moved to the reader's time zone first
        return format_date(value, style)
    return _day(value, style, locale or get_locale())


# Babel reads the pattern and the locale's names again on every call, and a history page
# shows two dozen dates, mostly the same few: a day reads the same in a language as long
# as the process runs. (Flask-Babel would look `style` up in Babel.date_formats first:
# the portal sets none, so Babel's own names short/medium/long/full are what it means.)
@lru_cache(maxsize=4096)
def _day(value: date, style: str, locale: Locale | None) -> str:
    return dates.format_date(value, style, locale=locale)


def moment(value: datetime) -> str:
    """A moment in the provider's time zone: 24 ноября 2026, 12:00."""
    return format_datetime(value, "d MMMM yyyy, HH:mm")


def tel_href(phone: str) -> str:
    """tel: link target for a support phone written any usual way."""
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return "tel:" + digits


@cache
def _fingerprint(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def asset_fingerprint(filename: str) -> str:
    """The fingerprint of a static file's content, as its URL carries it (?v=)."""
    # os.path.join, not pathlib: the path is only the fingerprint's key, and pathlib
    # parsing it twice cost more than the rest of the lookup.
    return _fingerprint(os.path.join(current_app.static_folder, filename))


def asset(filename: str) -> str:
    """The URL of a static file with its content's fingerprint, so it can be cached for
    good: a changed file gets a new URL. Every page names a dozen: each is built once
    per process (and path prefix), not on every page."""
    app = current_app._get_current_object()
    fingerprint = asset_fingerprint(filename)
    script_root = request.script_root if has_request_context() else None
    known = app.extensions.setdefault("portal.asset_urls", {})
    key = (filename, fingerprint, script_root)
    url = known.get(key)
    if url is None:
        url = known[key] = url_for("static", filename=filename, v=fingerprint)
    return url


def bottom_nav(unread: int) -> Markup:
    """The bar of sections at the bottom of a subscriber's pages. It reads the same for
    everyone in a language on a page with the same count of unread notifications, and
    holds nothing of the person's (no token, no name): drawn once per process for each,
    not on every page (a tenth of the home page's time)."""
    key = (str(get_locale()), request.script_root, request.endpoint, unread)
    return _drawn_once("components/nav.html", key, unread=unread)


def static_links() -> Markup:
    """Every page's icons, stylesheets and scripts, each URL with its fingerprint: the
    same on every page of the process (and path prefix), so drawn once."""
    script_root = request.script_root if has_request_context() else None
    return _drawn_once("components/static_links.html", (script_root,))


# Past this many, the drawings kept of one template are forgotten and drawn again: a key
# that varies (an unread count) never grows the process. Every page in both languages fits.
_DRAWINGS_KEPT = 1000


def _drawn_once(template: str, key: tuple, **context) -> Markup:
    """`template` drawn with `context`, kept per app and process under `key` (which must
    hold all the drawing depends on: nothing per person may go into one). Drawn every
    time while templates reload (development), so an edited template shows."""
    app = current_app._get_current_object()
    if app.jinja_env.auto_reload:
        return _drawn(template, context)
    drawn = app.extensions.setdefault("portal.drawn_once", {})
    found = drawn.get((template, key))
    if found is None:
        if len(drawn) >= _DRAWINGS_KEPT:
            drawn.clear()
        found = drawn[(template, key)] = _drawn(template, context)
    return found


def _drawn(template: str, context: dict) -> Markup:
    # A template's own output, escaped as it was drawn: inserted as it is.
    return Markup(render_template(template, **context))  # nosec B704


def branding() -> dict:
    cfg = current_app.config
    return {
        "brand": {
            "name": cfg["PORTAL_PROVIDER_NAME"],
            "city": cfg["PORTAL_PROVIDER_CITY"],
            "support_phone": cfg["PORTAL_SUPPORT_PHONE"],
            "support_tel": tel_href(cfg["PORTAL_SUPPORT_PHONE"]),
            "site": cfg["PORTAL_SITE"],
            "color": cfg["PORTAL_BRAND_COLOR"],
            "logo": cfg["PORTAL_LOGO"],
        },
        "lang": str(get_locale() or "ru"),
        "demo_mode": config.is_test_mode(cfg),
    }


def in_render_language(format_):
    """`format_` (a function taking `locale=`) as a template filter given the language the
    template is drawn in (i18n.render_locale): not found through the request context for
    each of a page's dozens of sums and dates."""

    @pass_context
    def filter_(context, value, *args):
        return format_(value, *args, locale=render_locale(context))

    return filter_


def init_app(app: Flask) -> None:
    app.add_template_filter(in_render_language(rub), "rub")
    app.add_template_filter(money)
    app.add_template_filter(in_render_language(rub_plain), "rub_plain")
    app.add_template_filter(in_render_language(rub_signed), "rub_signed")
    app.add_template_filter(top_up_roubles)
    app.add_template_filter(account_status)
    app.add_template_filter(entry_kind)
    app.add_template_filter(tariff_kind)
    app.add_template_filter(sms_status)
    app.add_template_filter(payment_status)
    app.add_template_filter(resolution_outcome)
    app.add_template_filter(payment_method)
    app.add_template_filter(audit_changes)
    app.add_template_filter(staff_role)
    app.add_template_filter(days_left)
    app.add_template_filter(in_render_language(day), "day")
    app.add_template_filter(moment)
    app.add_template_filter(phones.display, "phone")
    app.add_template_global(asset)
    app.add_template_global(bottom_nav)
    app.add_template_global(static_links)
    app.context_processor(branding)
