"""What views need about the signed-in subscriber: the account being looked at."""

from flask import abort, session

from portal.auth_session import current_person
from portal.domain import subscribers
from portal.domain.errors import NotFound
from portal.extensions import db
from portal.models import Account


def current_account(accounts: list[Account] | None = None) -> Account:
    """The account picked on the home page, else the person's first one; 404 if none.
    `accounts`: the person's accounts already read, to pick from without reading again."""
    person = current_person()
    chosen = session.get("account_id")
    if accounts is not None:
        picked = next((a for a in accounts if a.id == chosen), None)
        if picked is not None:
            return picked
        if chosen is not None:
            session.pop("account_id", None)
        if not accounts:
            abort(404)
        return accounts[0]
    if isinstance(chosen, int):
        try:
            return subscribers.account_of(db.session, person.id, chosen)
        except NotFound:
            session.pop("account_id", None)
    accounts = subscribers.accounts_of(db.session, person.id)
    if not accounts:
        abort(404)
    return accounts[0]
