"""What views need about the signed-in subscriber: the account being looked at."""

from flask import abort, session

from portal.auth_session import current_person
from portal.domain import subscribers
from portal.domain.errors import NotFound
from portal.extensions import db
from portal.models import Account


def current_account() -> Account:
    """The account picked on the home page, else the person's first one; 404 if none."""
    person = current_person()
    chosen = session.get("account_id")
    if isinstance(chosen, int):
        try:
            return subscribers.account_of(db.session, person.id, chosen)
        except NotFound:
            session.pop("account_id", None)
    accounts = subscribers.accounts_of(db.session, person.id)
    if not accounts:
        abort(404)
    return accounts[0]
