"""Subscribers in the console: onboarding at contract signing with the credentials sheet
to print, finding a subscriber, the subscriber's card, balance corrections, the
provider's block, and the view as the subscriber."""

import secrets

import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup

from portal import clock
from portal.domain import (
    audit,
    catalog,
    coming,
    history,
    ledger,
    notifications,
    profile,
    promised,
    sms,
    subscribers,
    suspension,
)
from portal.domain.auth import view_as
from portal.domain.errors import DuplicateContract, DuplicateLogin, InvalidInput
from portal.domain.payments import amounts, log
from portal.domain.payments.errors import AmountError
from portal.domain.visits import requests as visit_requests
from portal.extensions import client_address, db
from portal.htmx import render
from portal.models import Account, StaffRole
from portal.web.catalog.messages import addon_refusal
from portal.web.history import texts
from portal.web.staff.access import current_staff, requires_roles
from portal.web.subscribers import view_as as viewing
from portal.web.subscribers.forms import BlockForm, CorrectionForm, OnboardingForm, SearchForm
from portal.web.urls import external_url
from portal.web.visits import labels as visit_labels

bp = Blueprint("subscribers_staff", __name__, url_prefix="/staff/subscribers")

# Who looks subscribers up and opens their cards; who corrects balances.
READERS = (StaffRole.OPERATOR, StaffRole.ACCOUNTANT, StaffRole.DISPATCHER)
CARD_ENTRIES = 20
CARD_EVENTS = 30
CARD_VISITS = 10
CARD_PAYMENTS = 10
CARD_PROMISES = 10
CARD_PAUSES = 10


@bp.route("/")
@requires_roles(*READERS)
def search():
    """Find a subscriber by contract, name, phone or address, from a part of it."""
    form = SearchForm(request.args)
    if not form.validate():
        return render(
            "subscribers/staff/search.html",
            block="results",
            status=400,
            query="",
            problem=form.q.errors[0],
            found=[],
        )
    query = form.q.data
    found = subscribers.search(db.session, query)
    return render("subscribers/staff/search.html", block="results", query=query, found=found)


def _account_or_404(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        abort(404)
    return account


@bp.route("/<id:account_id>")
@requires_roles(*READERS)
def card(account_id: int):
    """What the subscriber sees and what happened to the account, for the staff."""
    account = _account_or_404(account_id)
    return _card(account)


def _card(
    account: Account,
    form: CorrectionForm | None = None,
    block_form: BlockForm | None = None,
    status: int = 200,
):
    payments = log.page(
        db.session, log.Filters(contract=account.contract_number), size=CARD_PAYMENTS
    )
    return render(
        "subscribers/staff/card.html",
        status=status,
        account=account,
        # Each with its words in the reader's language (the stored ones are Russian).
        entries=[
            (entry, texts.one_cell(history.Entry.of(entry)))
            for entry in ledger.latest(db.session, account.id, CARD_ENTRIES)
        ],
        payments=payments,
        visits=visit_requests.of_account_all(db.session, account.id, limit=CARD_VISITS),
        visit_labels=visit_labels,
        promises=promised.latest(db.session, account.id, CARD_PROMISES),
        # Not cancelled, newest first.
        pauses=suspension.of_account(db.session, account.id)[::-1][:CARD_PAUSES],
        coming=coming.coming(db.session, account, clock.provider_today()),
        today=clock.provider_today(),
        events=audit.latest_about(db.session, account.person_id, account.id, CARD_EVENTS),
        messages=sms.latest_to(db.session, account.person_id, CARD_EVENTS),
        form=form or CorrectionForm(key=secrets.token_urlsafe(16)),
        block_form=block_form or BlockForm(),
        view_minutes=int(current_app.config["PORTAL_VIEW_AS_LIFETIME"].total_seconds() // 60),
    )


def sheet_html(locale: str | None, **fields) -> Markup:
    """One credentials sheet (the fields of components/credentials_sheet_alone.html) in
    the subscriber's language: the one they chose, else the portal's own. The page
    around it stays in the member's: the sheet is the subscriber's to keep."""
    lang = locale or notifications.DEFAULT_LOCALE
    with force_locale(lang):
        page = render_template("components/credentials_sheet_alone.html", lang=lang, **fields)
    return Markup(page)  # nosec B704 - our own template, autoescaped


def _sheet(new: subscribers.NewSubscriber):
    """The credentials sheet. The password is in this answer only (no-store): printed,
    never shown again."""
    url = external_url("auth.login")
    sheet = sheet_html(
        new.person.locale,
        id="sheet-title",
        contract=new.account.contract_number,
        name=new.person.name,
        login=new.person.login,
        password=new.password,
        sign_in_url=url,
        qr=segno.make(url, error="m").svg_data_uri(scale=4, border=2),
    )
    return render("subscribers/staff/sheet.html", new=new, sheet=sheet)


@bp.route("/<id:account_id>/password", methods=["POST"])
@requires_roles(StaffRole.OPERATOR)
def reissue_password(account_id: int):
    """A new password for a subscriber who lost theirs, on a new credentials sheet."""
    account = _account_or_404(account_id)
    password = profile.reissue_password(
        db.session,
        account.person,
        provider_name=current_app.config["PORTAL_PROVIDER_NAME"],
        actor=audit.staff_actor(current_staff().id),
        address=client_address(),
    )
    db.session.commit()
    return _sheet(subscribers.NewSubscriber(account.person, account, password))


@bp.route("/<id:account_id>/correction", methods=["POST"])
@requires_roles(StaffRole.OPERATOR)
def correct(account_id: int):
    """Correct the balance by a signed sum, with a reason: a ledger entry, never an edit."""
    account = _account_or_404(account_id)
    form = CorrectionForm()
    if not form.validate_on_submit():
        return _card(account, form=form, status=400)
    # One sign, then a sum (parse_amount refuses a second sign: "+-150" is no credit).
    text = form.amount.data.strip()
    negative = text.startswith(("-", "−"))
    if text.startswith(("-", "−", "+")):
        text = text[1:]
    try:
        amount = amounts.parse_amount(text, minimum=1)
    except AmountError:
        form.amount.errors.append(_("Type a sum like 150 or -150,50."))
        return _card(account, form=form, status=400)
    if negative:
        amount = -amount
    try:
        ledger.correct(
            db.session,
            account.id,
            amount,
            reason=form.reason.data,
            key="correction:" + form.key.data,
            actor=audit.staff_actor(current_staff().id),
            block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
            address=client_address(),
        )
    except InvalidInput:  # the form checks the reason too: a safety net, nothing written
        db.session.rollback()
        form.reason.errors.append(_("Say why the balance is corrected."))
        return _card(account, form=form, status=400)
    db.session.commit()
    flash(_("The balance is corrected."))
    return redirect(url_for("subscribers_staff.card", account_id=account.id), 303)


@bp.route("/<id:account_id>/block", methods=["POST"])
@requires_roles(StaffRole.OPERATOR)
def block(account_id: int):
    """Block the account by the provider, with a reason (no payment lifts it)."""
    return _change_block(account_id, subscribers.block, _("The account is blocked."))


@bp.route("/<id:account_id>/unblock", methods=["POST"])
@requires_roles(StaffRole.OPERATOR)
def unblock(account_id: int):
    """Lift the provider's block, with a reason: active again, or blocked for debt."""
    return _change_block(
        account_id,
        subscribers.unblock,
        _("The provider's block is lifted."),
        # Lifted, the account is blocked for debt below the threshold the run applies.
        block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
    )


def _change_block(account_id: int, change, done: str, **settings):
    account = _account_or_404(account_id)
    form = BlockForm()
    if not form.validate_on_submit():
        return _card(account, block_form=form, status=400)
    try:
        change(
            db.session,
            account.id,
            reason=form.block_reason.data,
            actor=audit.staff_actor(current_staff().id),
            address=client_address(),
            **settings,
        )
    except subscribers.AlreadyBlocked:
        done = _("The account is blocked by the provider already.")
    except subscribers.NotBlocked:
        done = _("The account is not blocked by the provider.")
    except InvalidInput:
        form.block_reason.errors.append(_("Say why."))
        return _card(account, block_form=form, status=400)
    db.session.commit()
    flash(done)
    return redirect(url_for("subscribers_staff.card", account_id=account.id), 303)


@bp.route("/<id:account_id>/view", methods=["POST"])
@requires_roles(*READERS)
def view(account_id: int):
    """Open the subscriber's own pages in this browser, read only, for a short time."""
    account = _account_or_404(account_id)
    if viewing.subscriber_signed_in():
        flash(_("This browser is signed in to a subscriber's account: sign out of it first."))
        return redirect(url_for("subscribers_staff.card", account_id=account.id), 303)
    viewing.leave()  # a view already open in this browser ends first
    new = view_as.start(
        db.session,
        account,
        staff_id=current_staff().id,
        lifetime=current_app.config["PORTAL_VIEW_AS_LIFETIME"],
        address=client_address(),
        user_agent=request.user_agent.string,
    )
    db.session.commit()
    viewing.enter(account, new)
    return redirect(url_for("home.index"), 303)


def _form() -> OnboardingForm:
    offer = catalog.for_new_contract(db.session)
    return OnboardingForm().offer(offer, current_app.config["PORTAL_DISTRICTS"])


@bp.route("/new", methods=["GET", "POST"])
@requires_roles(StaffRole.OPERATOR)
def new():
    form = _form()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render(
            "subscribers/staff/new.html", block="onboarding_form", status=status, form=form
        )
    try:
        created = subscribers.create_subscriber(
            db.session,
            contract_number=form.contract.data,
            name=form.name.data,
            phone=form.phone.data,
            address=form.address.data,
            district=form.district.data,
            tariff_codes=tuple(code for code in (form.internet.data, form.tv.data) if code),
            service_codes=tuple(form.addons.data),
            start=clock.provider_today(),
            actor=audit.staff_actor(current_staff().id),
        )
    except DuplicateContract:
        form.contract.errors.append(_("This contract number is taken."))
    except DuplicateLogin:
        form.contract.errors.append(_("This contract number is already someone's login."))
    except catalog.AddonRefused as exc:
        form.addons.errors.append(addon_refusal(exc.addon, exc.problems))
    except InvalidInput as exc:
        # The form checks the rest; the phone's number plan, and the login's rules (the
        # contract number is the login), only the domain knows.
        problem = str(exc)
        if problem.startswith("phone"):
            form.phone.errors.append(_("This does not look like a mobile phone number."))
        elif problem.startswith("login"):
            form.contract.errors.append(
                _(
                    "The contract number is the login too: 3 to 64 Latin letters, digits, "
                    "“.”, “_” or “-”, from a letter or digit."
                )
            )
        else:
            form.contract.errors.append(_("Check the details: %(problem)s", problem=problem))
    else:
        db.session.commit()
        return _sheet(created)
    db.session.rollback()
    return render("subscribers/staff/new.html", block="onboarding_form", status=400, form=form)
