"""Payments in the console: the review queue, the noted refunds and the payment log."""

import functools
import secrets

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from portal import clock
from portal.domain.errors import InvalidInput, NotFound
from portal.domain.payments import log, review
from portal.domain.payments.errors import (
    AlreadyResolved,
    NotCreditable,
    NotOnReview,
    RefundNotApplicable,
)
from portal.extensions import client_address, db
from portal.htmx import render
from portal.models import PaymentStatus, ResolutionOutcome, StaffMember, StaffRole
from portal.web.filters import moment, resolution_outcome
from portal.web.ids import id_arg
from portal.web.payments.forms import PaymentFilterForm, ResolutionForm
from portal.web.staff.access import current_staff, requires_roles
from portal.web.validators import first_error

bp = Blueprint("payments_staff", __name__, url_prefix="/staff/payments")

# Who reads the payments and works their queues (the admin always may).
PAYMENTS = (StaffRole.OPERATOR, StaffRole.ACCOUNTANT)
# The buttons of each queue's form, and what each resolves the item as.
REVIEW_ACTIONS = {
    "credit": ResolutionOutcome.CREDITED,
    "refuse": ResolutionOutcome.REFUSED,
    "handled": ResolutionOutcome.HANDLED,
}
REFUND_ACTIONS = {"apply": ResolutionOutcome.APPLIED, "handled": ResolutionOutcome.HANDLED}


def _form() -> ResolutionForm:
    return ResolutionForm(key=secrets.token_urlsafe(16))


# --- the payment log ---------------------------------------------------------------------


@bp.route("/")
@requires_roles(*PAYMENTS)
def payment_log():
    """Every payment, newest first, by days, state and contract; older pages by id."""
    form = PaymentFilterForm(request.args)
    if not form.validate():
        return render("payments/staff/log.html", block="results", status=400, form=form, found=None)
    filters = log.Filters(
        *_bounds(form.since.day, form.until.day),
        status=PaymentStatus(form.state.data) if form.state.data else None,
        contract=form.contract.data.strip() or None,
    )
    found = log.page(db.session, filters, before=id_arg("before"), size=log.PAGE)
    return render(
        "payments/staff/log.html",
        block="results",
        form=form,
        found=found,
        states=list(PaymentStatus),
    )


def _bounds(first, last):
    """The UTC moments of a run of the provider's days (either end may be open)."""
    tz = current_app.config["PORTAL_TIMEZONE"]
    since = clock.local_day_bounds(first, tz=tz)[0] if first else None
    until = clock.local_day_bounds(last, tz=tz)[1] if last else None
    return since, until


# --- payments on review ------------------------------------------------------------------


@bp.route("/review")
@requires_roles(*PAYMENTS)
def review_queue():
    return _review_page()


def _review_page(failed: int | None = None, error: str | None = None, status: int = 200):
    items = review.payments_on_review(db.session)
    forms = {item.payment.id: _form() for item in items}
    return render(
        "payments/staff/review.html",
        status=status,
        items=items,
        forms=forms,
        failed=failed,
        error=error,
    )


@bp.route("/review/<id:payment_id>", methods=["POST"])
@requires_roles(*PAYMENTS)
def resolve_payment(payment_id: int):
    """Credit what was received, refuse, or mark handled: once, with a reason."""
    return _resolve(
        payment_id,
        REVIEW_ACTIONS,
        functools.partial(
            review.resolve_payment,
            block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
        ),
        (AlreadyResolved, NotOnReview, NotCreditable, InvalidInput),
        _review_page,
        "payments_staff.review_queue",
    )


def _resolve(item_id, actions, resolve, refusals, page, queue_endpoint: str):
    """One queue item resolved through the form: parse, call the domain, answer."""
    form = ResolutionForm()
    outcome = actions.get(form.action.data or "")
    if not form.validate_on_submit() or outcome is None:
        message = first_error(form) or _("Choose what to do.")
        return page(failed=item_id, error=message, status=400)
    try:
        resolved = resolve(
            db.session,
            item_id,
            outcome,
            reason=form.reason.data,
            form_key=form.key.data,
            staff_id=current_staff().id,
            address=client_address(),
        )
    except NotFound:
        db.session.rollback()
        abort(404)
    except refusals as exc:
        db.session.rollback()
        message, status = _refusal(exc)
        return page(failed=item_id, error=message, status=status)
    db.session.commit()
    flash(_resolved_message(resolved.resolution.outcome))
    return redirect(url_for(queue_endpoint), 303)


# --- refunds noted but not applied -------------------------------------------------------


@bp.route("/refunds")
@requires_roles(*PAYMENTS)
def refund_queue():
    return _refunds_page()


def _refunds_page(failed: int | None = None, error: str | None = None, status: int = 200):
    items = review.noted_refunds(db.session)
    forms = {item.event.id: _form() for item in items}
    return render(
        "payments/staff/refunds.html",
        status=status,
        items=items,
        forms=forms,
        failed=failed,
        error=error,
    )


@bp.route("/refunds/<id:event_id>", methods=["POST"])
@requires_roles(*PAYMENTS)
def resolve_refund(event_id: int):
    """Apply a noted refund (debit it once) or mark it handled, with a reason."""
    return _resolve(
        event_id,
        REFUND_ACTIONS,
        review.resolve_refund,
        (AlreadyResolved, RefundNotApplicable, InvalidInput),
        _refunds_page,
        "payments_staff.refund_queue",
    )


# --- the words for the domain's answers --------------------------------------------------


def _resolved_message(outcome: ResolutionOutcome) -> str:
    return _("Resolved: %(outcome)s.", outcome=resolution_outcome(outcome))


_NOT_CREDITABLE = {
    "not_paid": lambda: _("The acquirer did not report this payment as paid: nothing to credit."),
    "currency": lambda: _("The money came in another currency: it cannot be credited here."),
    "unknown": lambda: _("What the acquirer received is not recorded: it cannot be credited."),
}
_NOT_APPLICABLE = {
    "unknown": lambda: _("The acquirer did not say which payment or what sum: mark it handled."),
    "not_credited": lambda: _("Its payment was never credited: there is nothing to take back."),
    "currency": lambda: _("The refund is in another currency than its payment."),
    "amount": lambda: _("The refund is larger than what its payment credited."),
    "left": lambda: _(
        "The refund is larger than what is left of its payment after the refunds already debited."
    ),
}


def _refusal(exc: Exception) -> tuple[str, int]:
    """A refused resolution in words, and its status: 409 for an item no longer there."""
    if isinstance(exc, AlreadyResolved):
        done = exc.resolution
        if done is None:
            return _("This refund has been debited meanwhile."), 409
        who = db.session.get(StaffMember, done.staff_id)
        return _(
            "Already resolved (%(outcome)s) by %(who)s, %(when)s.",
            outcome=resolution_outcome(done.outcome),
            who=who.name if who else "—",
            when=moment(done.at),
        ), 409
    if isinstance(exc, NotOnReview):
        return _("This payment is not on review any more."), 409
    if isinstance(exc, NotCreditable):
        return _NOT_CREDITABLE[exc.why](), 400
    if isinstance(exc, RefundNotApplicable):
        return _NOT_APPLICABLE[exc.why](), 400
    return _("Say why."), 400
