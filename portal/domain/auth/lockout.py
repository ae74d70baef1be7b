"""The account's wrong passwords in a row, and what happens at the limit.

Subscribers and staff keep the count on their row (`failed_sign_ins`), counted by one
atomic update (concurrent failures all count) and started again by any success. What
the count does differs, because their ways back in differ.

**A subscriber's account.** NIST SP 800-63B allows at most 100 consecutive failed
attempts on one account before something stronger is asked. Below the limit the account
is never refused: a stranger's wrong guesses must not keep the owner's right password
out (the per-address limits of the web layer slow the stranger down instead). At the
limit, the password alone no longer signs in from a new device: a device the person has
signed in on before (a trusted device, portal.domain.auth.devices) still does, and so
does a recovery secret sent by SMS (which the owner can always ask for). The phone is
told once, when the limit is reached. Any success (sign-in, or the right current
password on the profile pages) starts the count again. An unknown login has no count:
nothing is stored for it.

**A staff member's account.** The console moves money and hands out credentials, and a
member has no SMS to fall back on, so the count pauses rather than stops. The web layer
limits failures per address; this count is what holds a guess spread over many
addresses. The first `free_failures` wrong passwords or codes in a row (20: twice what
one address may try in its window, so a single guesser meets the address limit first)
cost nothing. Each one after them pauses sign-in from a new device, twice as long as the
pause before (1, 2, 4 ... minutes, at most `longest`, an hour), so a guesser gets about
one try an hour whatever the number of addresses. While paused, a password (and a code
at the second step) from a new device is refused unchecked with the answer a wrong
password gets, so the answer says nothing about the pause (no enumeration) and a guess
during it learns nothing. Such a refusal is not counted: a stranger cannot stretch the
pause, and it ends on time. Three ways keep the owner in:

- a trusted device: a browser where the member has fully signed in with their current
  password (the console's own cookie, portal.domain.auth.devices) is never paused; the
  web layer limits each such device's failures, so a copied cookie is no free pass;
- the pause ends by itself (an hour at most), and the first right password and code
  after it sign in;
- an admin resets the member's password (portal.domain.staff), which clears the count.

A full sign-in (the password and, when the member has one, the second factor) starts the
count again. The second factor cannot serve as the way around the pause: reaching it
would tell the guesser that the password was right. Wrong passwords of an unknown or a
deactivated login are not counted. Every failure stays in the audit log.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal import clock
from portal.domain import audit, notifications, sms
from portal.domain.auth.devices import Device
from portal.models import Person, StaffMember

DEFAULT_MAX_FAILURES = 100


def _count_failure(db: Session, holder: Person | StaffMember) -> int:
    """One more failure on the holder's row, in one UPDATE (concurrent failures all count;
    on PostgreSQL the row stays locked until commit); the new count."""
    table = type(holder)
    count = db.execute(
        sa.update(table)
        .where(table.id == holder.id)
        .values(failed_sign_ins=table.failed_sign_ins + 1)
        .returning(table.failed_sign_ins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(holder, "failed_sign_ins", count)  # already written
    return count


def note_success(holder: Person | StaffMember) -> None:
    """The right password (or secret; for staff, the whole sign-in): the count starts
    again, and a staff member's pause ends."""
    if holder.failed_sign_ins:
        holder.failed_sign_ins = 0
    if isinstance(holder, StaffMember) and holder.sign_in_paused_until is not None:
        holder.sign_in_paused_until = None


# --- subscribers -----------------------------------------------------------------------


def is_locked(person: Person, max_failures: int) -> bool:
    """True when the password alone no longer signs in from a new device."""
    return person.failed_sign_ins >= max_failures


def note_failure(
    db: Session, person: Person, *, max_failures: int, provider_name: str, address: str | None
) -> None:
    """Count one more wrong password; at the limit, record it and tell the phone once."""
    count = _count_failure(db, person)
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
    with notifications.in_language_of(person):
        text = _(
            "%(provider)s: many wrong passwords in a row for your personal account. Signing "
            "in with a password from new devices is paused: sign in from a device you have "
            "used before, or get a new password with the link “Forgot the password?”.",
            provider=provider_name,
        )
    sms.queue(
        db,
        to_phone=person.phone,
        text=text,
        purpose="sign_in_paused",
        person_id=person.id,
    )


# --- staff -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffPause:
    """How many failures in a row are free, and how long the pauses after them grow."""

    free_failures: int = 20
    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=1)

    @classmethod
    def from_config(cls, config: Mapping) -> "StaffPause":
        return cls(
            free_failures=int(config["PORTAL_STAFF_LOGIN_FREE_FAILURES"]),
            longest=timedelta(minutes=int(config["PORTAL_STAFF_LOGIN_LONGEST_PAUSE_MINUTES"])),
        )

    def after(self, failures: int) -> timedelta | None:
        """The pause the failure numbered `failures` sets; None while still free."""
        beyond = failures - self.free_failures
        if beyond <= 0:
            return None
        return min(self.first * 2 ** min(beyond - 1, 30), self.longest)


DEFAULT_STAFF_PAUSE = StaffPause()


def is_paused(member: StaffMember, device: Device | None, moment: datetime) -> bool:
    """True while a password or code from this device is refused unchecked: the member's
    pause is on and the device is not one the member has signed in on."""
    until = member.sign_in_paused_until
    if until is None or until <= moment:
        return False
    return not (device is not None and device.trusts(member))


def note_staff_failure(
    db: Session, member: StaffMember, pause: StaffPause, *, address: str | None
) -> None:
    """Count one more wrong password or code; past the free ones, pause sign-in from new
    devices (recorded with its end)."""
    count = _count_failure(db, member)
    length = pause.after(count)
    if length is None:
        return
    # The row is locked by the count's UPDATE until commit, so concurrent failures set
    # their pauses in the order of their counts.
    member.sign_in_paused_until = clock.now() + length
    audit.record(
        db,
        "staff.sign_in_paused",
        actor="anonymous",
        address=address,
        staff_id=member.id,
        failures=count,
        until=member.sign_in_paused_until.isoformat(),
    )
