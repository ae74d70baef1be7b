"""The demo SMS outbox: the messages the portal "sent", readable in the browser, so the
whole password-recovery flow can be tried with no SMS contract. Served only where
PORTAL_SMS_OUTBOX_PAGE is on (demo and development mode; production refuses it)."""

from flask import Blueprint, abort, current_app

from portal import config
from portal.domain.sms.outbox import recent_messages
from portal.extensions import db
from portal.htmx import render

bp = Blueprint("sms", __name__, url_prefix="/demo/sms")


@bp.before_request
def only_where_enabled():
    # A 404, not a 403: in production the page does not exist.
    if not config.sms_outbox_page_enabled(current_app.config):
        abort(404)


@bp.route("/")
def outbox():
    messages = recent_messages(db.session, limit=50, reveal_with=current_app.config["SECRET_KEY"])
    return render("sms/outbox.html", messages=messages)
