"""Tariffs: what the account has, what the provider offers, and changing one for another
of its group (the side-by-side page, then confirm)."""

import secrets

from flask import Blueprint, abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from portal import clock
from portal.auth_session import current_person
from portal.domain import catalog
from portal.domain import tariff_change as tc
from portal.domain.payments import amounts
from portal.extensions import client_address, db
from portal.htmx import render
from portal.models import Tariff, TariffKind
from portal.web.actions import form_refused, perform, refused_page
from portal.web.context import current_account
from portal.web.filters import day, rub_plain
from portal.web.tariffs.forms import CancelForm, ChangeForm
from portal.web.validators import first_error

bp = Blueprint("tariffs", __name__, url_prefix="/tariffs")


def _threshold() -> int:
    return current_app.config["PORTAL_BLOCK_THRESHOLD"]


@bp.route("/")
@login_required
def index():
    account = current_account()
    today = clock.provider_today()
    offer = catalog.offer(db.session, account, Tariff, today)
    pending = tc.pending(db.session, account.id, today)
    return render(
        "tariffs/index.html",
        offer=offer,
        kinds=list(TariffKind),
        pending=pending,
        # What cancelling each change keeps, so the subscriber knows before cancelling.
        addons_back={c.id: tc.addons_back(db.session, account, c) for c in pending},
        cancel_form=CancelForm(),
    )


def refusal_message(refused: tc.ChangeRefused) -> str:
    """What the subscriber reads about a change that cannot be made."""
    why = refused.why
    return {
        catalog.ChangeRefusal.SAME: _("This is your tariff already."),
        catalog.ChangeRefusal.ARCHIVED: _("This tariff is no longer offered."),
        catalog.ChangeRefusal.NO_GROUP: _("Your tariff can be changed only by support."),
        catalog.ChangeRefusal.OTHER_GROUP: _(
            "Your tariff can be changed only for another tariff of its group."
        ),
        tc.Refusal.NO_CURRENT: _("You have no tariff of this kind to change."),
        tc.Refusal.LIMIT: _(
            "The limit of tariff changes this month is reached (%(limit)s).",
            limit=refused.limit,
        ),
        tc.Refusal.PENDING: _("A tariff change is waiting for its day already: cancel it first."),
        tc.Refusal.CHANGED_TODAY: _("The tariff was changed today: change it again tomorrow."),
        tc.Refusal.BALANCE: _(
            "The balance does not cover the fee: %(sum)s is missing.",
            sum=rub_plain(refused.missing),
        ),
    }[why]


def pay_link(refused: tc.ChangeRefused | None) -> str | None:
    """The payment page with exactly the missing sum (at least the smallest payment)."""
    if refused is None or refused.why is not tc.Refusal.BALANCE:
        return None
    smallest = current_app.config["PORTAL_PAYMENT_MIN"]
    return url_for("payments.index", amount=amounts.format_plain(max(refused.missing, smallest)))


def _target(tariff_id: int) -> Tariff:
    target = db.session.get(Tariff, tariff_id)
    if target is None:
        abort(404)
    return target


def _compare_page(target: Tariff, *, error: str | None = None, status: int = 200, form=None):
    account = current_account()
    today = clock.provider_today()
    try:
        proposal = tc.propose(db.session, account, target, today, block_threshold=_threshold())
    except tc.ChangeRefused as refused:
        return render(
            "tariffs/compare.html",
            status=400 if status == 200 else status,
            proposal=None,
            target=target,
            account=account,
            error=error or refusal_message(refused),
            pay_url=None,
            form=None,
        )
    if form is None:
        form = ChangeForm()
        form.key.data = secrets.token_hex(16)
    refusal = proposal.refusal
    return render(
        "tariffs/compare.html",
        status=status,
        proposal=proposal,
        target=target,
        account=account,
        error=error or (refusal_message(refusal) if refusal else None),
        pay_url=pay_link(refusal),
        form=form,
        today=today,
    )


# One rule for the page and its form: an id out of range is a 404 for either method.
@bp.route("/<id:tariff_id>", methods=["GET", "POST"])
@login_required
def compare(tariff_id: int):
    """The picked tariff side by side with the current one; POST confirms the change."""
    target = _target(tariff_id)
    if request.method == "GET":
        return _compare_page(target)
    form = ChangeForm()
    if not form.validate_on_submit():
        return _compare_page(target, error=first_error(form), status=400)
    account = current_account()

    def changed(made) -> str:
        if made.takes_effect_on == made.made_on:
            return _("The tariff is changed to %(name)s from today.", name=target.name)
        return _(
            "The tariff changes to %(name)s on %(day)s.",
            name=target.name,
            day=day(made.takes_effect_on),
        )

    return perform(
        lambda: tc.change(
            db.session,
            account.id,
            target.id,
            clock.provider_today(),
            person_id=current_person().id,
            form_key=form.key.data,
            block_threshold=_threshold(),
            address=client_address(),
        ),
        refusals={
            tc.AlreadyMade: lambda _made: _compare_page(
                target, error=_("This change has been made already."), status=409
            ),
            tc.ChangeRefused: lambda refused: _compare_page(
                target,
                error=refusal_message(refused),
                status=400 if isinstance(refused.why, catalog.ChangeRefusal) else 409,
            ),
        },
        done=changed,
        to=url_for(".index"),
    )


def cancelled(done: tc.Cancelled) -> str:
    """What the subscriber reads once a change is cancelled: the add-ons it kept, if any."""
    if not done.addons:
        return _("The tariff change is cancelled.")
    return _(
        "The tariff change is cancelled. These add-ons stay connected: %(names)s.",
        names=", ".join(s.service.name for s in done.addons),
    )


@bp.route("/changes/<id:change_id>/cancel", methods=["POST"])
@login_required
def cancel(change_id: int):
    """Cancel a scheduled change of one's own account; someone else's is a 404."""
    return form_refused(CancelForm()) or perform(
        lambda: tc.cancel(
            db.session,
            current_account().id,
            change_id,
            clock.provider_today(),
            person_id=current_person().id,
            address=client_address(),
        ),
        refusals={
            tc.NotCancellable: lambda _refused: refused_page(409)(
                _("This change cannot be cancelled: it was cancelled or has taken effect.")
            )
        },
        done=cancelled,
        to=url_for(".index"),
    )
