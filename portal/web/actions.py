"""The one shape of a subscriber's change posted from a form: check the form, call the
domain, then roll back and answer a refusal, or commit, say what was done and go on.

The tariff, add-on, promised payment and pause views post through `perform`, so a
refusal never leaves half a change behind and each view keeps only its own words.
"""

from collections.abc import Callable, Mapping
from typing import Any

from flask import abort, flash, redirect
from werkzeug.wrappers import Response

from portal.domain.errors import NotFound
from portal.extensions import db
from portal.htmx import render
from portal.web.validators import first_error


def form_refused(form) -> Response | None:
    """The error page (400) for a form whose token or fields do not hold; None if they do."""
    if form.validate_on_submit():
        return None
    return render("errors/error.html", status=400, code=400, message=first_error(form))


def refused_page(status: int) -> Callable[[str], Response]:
    """An answer to a refusal: the error page with its message and `status`."""
    return lambda message: render("errors/error.html", status=status, code=status, message=message)


def perform(
    change: Callable[[], Any],
    *,
    refusals: Mapping[type[Exception], Callable[[Any], Response]],
    done: Callable[[Any], str],
    to: str,
) -> Response:
    """Run `change` (the domain call) in the request's transaction. A refusal it raises
    of a type in `refusals` rolls back and answers what its handler makes of it; an
    object that is not the account's (NotFound) rolls back and answers 404. Otherwise
    commit, flash done(what `change` returned) and redirect (303) to `to`."""
    try:
        result = change()
    except NotFound:
        db.session.rollback()
        abort(404)
    except tuple(refusals) as refused:
        db.session.rollback()
        handler = next(h for kind, h in refusals.items() if isinstance(refused, kind))
        return handler(refused)
    db.session.commit()
    flash(done(result))
    return redirect(to, 303)
