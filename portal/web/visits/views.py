"""The visits section. Its online part is a later issue; until then the page says how
to get it done today and offers the support line."""

from flask import Blueprint
from flask_login import login_required

from portal.htmx import render
from portal.web.context import current_account

bp = Blueprint("visits", __name__, url_prefix="/visits")


@bp.route("/")
@login_required
def index():
    account = current_account()
    return render("visits/index.html", account=account)
