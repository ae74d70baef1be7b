"""View as the subscriber: a staff member opens the subscriber's own pages, read only.

The card starts it (subscribers/staff.py, a staff route): a short-lived subscriber session
flagged with the member (portal.domain.auth.view_as) goes into this browser's subscriber
cookie, and the subscriber's pages open in it as the subscriber sees them. While it is in
use, one guard here, before every request, refuses every change on the subscriber's
side (anything but GET and HEAD) with a 403, so a page added later is read-only without
knowing about it; the console's own routes are left alone (the member may work in another
tab). "Sign out" or "end view" ends it and goes back to the card; a view that ran out is
found at the next request and goes back there too. Each page says so in a banner
(base.html, `viewing`).
"""

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.auth_session import SignedIn
from portal.domain.auth import credentials, view_as
from portal.extensions import client_address, db
from portal.htmx import hx_redirect, is_htmx, render
from portal.models import Account, LoginSession

bp = Blueprint("view_as", __name__, url_prefix="/view-as")

# The Flask session's key for the account a view in this browser is of: how a view that
# ran out is told from a visitor, and where "end view" returns to.
VIEW_KEY = "view_as_account"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What ends the view instead of being refused: "end view", and "sign out" on a page.
ENDS_THE_VIEW = frozenset({"view_as.end", "auth.logout"})


def current_view() -> LoginSession | credentials.LiveSession | None:
    """The staff member's view this request runs in, if it does."""
    # The user once, not through the proxy at each attribute: every request asks.
    user = current_user._get_current_object()
    if not user.is_authenticated:
        return None
    record = user.login_session
    return record if view_as.is_view(record) else None


def subscriber_signed_in() -> bool:
    """Whether this browser holds a subscriber's own session (not a staff view)."""
    return current_user.is_authenticated and current_view() is None


def enter(account: Account, new: credentials.NewSession) -> None:
    """Put a view started for `account` into this browser's subscriber cookie."""
    login_user(SignedIn(account.person, new.record, new.token), remember=False)
    session["account_id"] = account.id
    session[VIEW_KEY] = account.id


def leave() -> int | None:
    """End the view of this browser (audited, if it was still open) and forget it; the
    account it was of, if any. The caller commits."""
    account_id = session.pop(VIEW_KEY, None)
    token = session.get("_user_id")
    if isinstance(token, str):
        view_as.end(
            db.session,
            token,
            account_id=account_id if isinstance(account_id, int) else None,
            address=client_address(),
        )
    logout_user()
    session.pop("account_id", None)
    return account_id if isinstance(account_id, int) else None


def _back_to_console(account_id: int | None) -> str:
    if account_id is None:
        return url_for("staff.index")
    return url_for("subscribers_staff.card", account_id=account_id)


def _not_the_subscribers_page() -> bool:
    """The console's routes, and what opens alike for anyone (static files, the app's
    shell: the service worker keeps the offline page, never a redirect to the console)."""
    if request.endpoint == "static" or request.blueprint == "pwa":
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return hasattr(view, "staff_roles")


@bp.route("/end", methods=["POST"])
def end():
    """End the view and go back to the subscriber's card in the console."""
    if current_view() is None:
        abort(404)  # no view here to end
    account_id = leave()
    db.session.commit()
    flash(_("The view as the subscriber has ended."))
    response = redirect(_back_to_console(account_id), 303)
    # As at sign-out: the browser's HTTP cache goes (pages are no-store already), and
    # portal.js forgets what it kept of the pages as the form goes (data-sign-out).
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


@bp.before_app_request
def guard_the_view():
    """While a view is in use, refuse every change on the subscriber's side; a view that
    ran out (or was ended in another tab) is forgotten and goes back to the card."""
    if _not_the_subscribers_page():
        if VIEW_KEY in session and current_view() is None:
            leave()
            db.session.commit()
        return None
    if current_view() is None:
        if VIEW_KEY not in session:
            return None
        account_id = leave()
        db.session.commit()
        flash(_("The view as the subscriber has ended: its time is up."))
        target = _back_to_console(account_id)
        return hx_redirect(target) if is_htmx() else redirect(target)
    if request.endpoint in ENDS_THE_VIEW and request.method == "POST":
        return end()
    if request.method in READ_ONLY_METHODS:
        return None
    return render(
        "errors/error.html",
        status=403,
        code=403,
        message=_(
            "This is the staff's read-only view of the subscriber's pages: nothing can be "
            "changed here. End the view to go back to the console."
        ),
    )


def viewing() -> dict:
    """The template's `viewing`: the account a view in use is of, else None."""
    if current_view() is None:
        return {"viewing": None}
    account = db.session.get(Account, session.get(VIEW_KEY) or 0)
    return {"viewing": account}


def init_app(app) -> None:
    app.context_processor(viewing)
