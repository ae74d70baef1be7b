"""The account's history: every ledger entry, newest first, a page at a time."""

from flask import Blueprint
from flask_login import login_required

from portal.domain import history
from portal.extensions import db
from portal.htmx import render
from portal.web.context import current_account
from portal.web.ids import id_arg

bp = Blueprint("history", __name__, url_prefix="/history")

PAGE = 30


@bp.route("/")
@login_required
def index():
    account = current_account()
    before = id_arg("before")  # anything but a row id is no filter
    found = history.page(db.session, account.id, size=PAGE, before_id=before)
    block = "page" if before is not None else "content"
    return render(
        "history/index.html",
        block=block,
        account=account,
        lines=found.lines,
        next_before=found.next_before,
    )
