"""The account's history: every ledger entry, newest first, by month with the month's
totals, filtered by period and kind (in the URL), a page at a time; the picture of the
last twelve months; the filtered history as CSV."""

from flask import Blueprint, Response, current_app, request, stream_with_context
from flask_login import login_required

from portal import clock
from portal.domain import history
from portal.extensions import db
from portal.htmx import is_htmx, render
from portal.models import Account, EntryKind
from portal.web.context import current_account
from portal.web.filters import day
from portal.web.history import export, texts
from portal.web.history.chart import chart
from portal.web.history.forms import HistoryFilterForm

bp = Blueprint("history", __name__, url_prefix="/history")
bp.add_app_template_filter(texts.what, "entry_what")


def _tz() -> str:
    return current_app.config["PORTAL_TIMEZONE"]


def _filters(form: HistoryFilterForm) -> history.Filters:
    """The form's period and kind as the domain's filters (the form is valid)."""
    if form.custom:
        days = history.bounds(form.since.day, form.until.day, tz=_tz())
    elif form.period.data:
        days = history.bounds(
            *history.period_days(form.period.data, clock.provider_today()), tz=_tz()
        )
    else:
        days = history.Filters()
    kinds = frozenset({EntryKind(form.kind.data)}) if form.kind.data else None
    return history.Filters(days.since, days.until, kinds)


def _month_label(month) -> str:
    """A month's short name under the picture: янв, фев, ... (three letters)."""
    return day(month, "LLLL")[:3]


def _render(account: Account, form: HistoryFilterForm, *, status=200, block="results", **more):
    return render(
        "history/index.html",
        block=block,
        status=status,
        account=account,
        form=form,
        kinds=list(EntryKind),
        fragment=is_htmx(),
        this_month=history.month_start(clock.provider_today()),
        **more,
    )


@bp.route("/")
@login_required
def index():
    account = current_account()
    form = HistoryFilterForm(request.args)
    if not form.validate():
        return _render(account, form, status=400, found=None)
    before = form.before.id_value
    months = []  # the picture's, on a first page as a whole page
    if before is None and not is_htmx():
        months = history.last_months(db.session, account.id, clock.provider_today(), tz=_tz())
    found = history.page(
        db.session,
        account.id,
        _filters(form),
        tz=_tz(),
        before=before,
        known={totals.month: totals for totals in months},
    )
    picture = chart(months, _month_label)
    return _render(
        account,
        form,
        block="page" if before is not None else "results",
        found=found,
        chart=picture,
        query=form.query_args(),
    )


@bp.route("/export.csv")
@login_required
def export_csv():
    """The filtered history (all of it, not a page) as a CSV file."""
    account = current_account()
    form = HistoryFilterForm(request.args)
    if not form.validate():
        return _render(account, form, status=400, found=None)
    entries = history.entries(db.session, account.id, _filters(form))
    name = "".join(ch for ch in account.contract_number if ch.isascii() and ch.isalnum())
    response = Response(
        stream_with_context(export.lines(entries, _tz())), mimetype="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="history-{name or account.id}.csv"'
    )
    return response
