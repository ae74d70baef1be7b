"""The account's history: every ledger entry, newest first, a page at a time."""

from flask import Blueprint, request
from flask_login import login_required

from portal.domain import history
from portal.extensions import db
from portal.htmx import render
from portal.web.context import current_account

bp = Blueprint("history", __name__, url_prefix="/history")

PAGE = 30


@bp.route("/")
@login_required
def index():
    account = current_account()
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before < 2**63:
        before = None
    found = history.page(db.session, account.id, size=PAGE, before_id=before)
    block = "page" if before is not None else "content"
    return render(
        "history/index.html",
        block=block,
        account=account,
        lines=found.lines,
        next_before=found.next_before,
    )
