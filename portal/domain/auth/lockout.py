"""The account's wrong passwords in a row, and what happens at the limit.

NIST SP 800-63B allows at most 100 consecutive failed attempts on one account before
something stronger is asked. Below the limit the account is never refused: a stranger's
wrong guesses must not keep the owner's right password out (the per-address limits of
the web layer slow the stranger down instead). At the limit, the password alone no
longer signs in from a new device: a device the person has signed in on before (a
trusted device, portal.domain.auth.devices) still does, and so does a recovery secret
sent by SMS (which the owner can always ask for). The phone is told once, when the
limit is reached. Any success (sign-in, or the right current password on the profile
pages) starts the count again. An unknown login has no count: nothing is stored for it.
"""

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.domain import audit, sms
from portal.models import Person

DEFAULT_MAX_FAILURES = 100


def is_locked(person: Person, max_failures: int) -> bool:
    """True when the password alone no longer signs in from a new device."""
    return person.failed_sign_ins >= max_failures


def note_failure(
    db: Session, person: Person, *, max_failures: int, provider_name: str, address: str | None
) -> None:
    """Count one more wrong password (atomically: concurrent failures all count); at the
    limit, record it and tell the phone once."""
    count = db.execute(
        sa.update(Person)
        .where(Person.id == person.id)
        .values(failed_sign_ins=Person.failed_sign_ins + 1)
        .returning(Person.failed_sign_ins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(person, "failed_sign_ins", count)  # already written
    if count != max_failures:
        return
    audit.record(
        db,
        "auth.password_sign_in_paused",
        actor="anonymous",
        person_id=person.id,
        address=address,
        failures=count,
    )
    sms.queue(
        db,
        to_phone=person.phone,
        text=f"{provider_name}: много неверных паролей подряд для вашего личного кабинета. "
        "Вход по паролю с новых устройств приостановлен: войдите с устройства, где уже "
        "входили, или получите новый пароль по ссылке «Забыли пароль?».",
        purpose="sign_in_paused",
        person_id=person.id,
    )


def note_success(person: Person) -> None:
    """The right password (or secret): the count starts again."""
    if person.failed_sign_ins:
        person.failed_sign_ins = 0
