"""Sign-in sessions as every request reads them (credentials.resume_session): ended at
once, expiring, sliding at most every few minutes, and a staff member's view never."""

from datetime import timedelta

import sqlalchemy as sa

from portal.domain.auth import credentials
from portal.models import LoginSession
from tests.factories import create_staff, create_subscriber

IDLE = timedelta(hours=12)
REMEMBERED = timedelta(days=60)


def started(session, *, remember=False, viewer_staff_id=None) -> credentials.NewSession:
    person = create_subscriber(session).person
    new = credentials.start_session(
        session,
        person,
        remember=remember,
        lifetime=IDLE,
        address=None,
        user_agent=None,
        viewer_staff_id=viewer_staff_id,
    )
    session.commit()
    return new


def resume(session, token):
    return credentials.resume_session(session, token, idle=IDLE, remembered=REMEMBERED)


def stored(session, record_id) -> LoginSession:
    return session.scalar(
        sa.select(LoginSession)
        .where(LoginSession.id == record_id)
        .execution_options(populate_existing=True)
    )


def test_a_session_comes_back_with_its_person_and_writes_nothing_at_first(session, frozen_clock):
    new = started(session)
    record = resume(session, new.token)
    assert record.id == new.record.id and record.person.id == new.record.person_id
    assert not record.touched


def test_an_ended_session_is_refused_at_the_next_request(session, frozen_clock):
    new = started(session)
    assert resume(session, new.token) is not None
    credentials.end_session(session, new.token)
    session.commit()
    assert resume(session, new.token) is None


def test_an_expired_or_unknown_token_is_refused(session, frozen_clock):
    new = started(session)
    frozen_clock.advance(hours=12)
    assert resume(session, new.token) is None
    assert resume(session, "no such token") is None
    assert resume(session, "x" * 101) is None


def test_stay_signed_in_slides_by_its_own_lifetime_every_few_minutes(session, frozen_clock):
    new = started(session, remember=True)
    frozen_clock.advance(minutes=4)
    assert not resume(session, new.token).touched
    frozen_clock.advance(minutes=2)
    moved = resume(session, new.token)
    assert moved.touched and moved.expires_at == frozen_clock() + REMEMBERED
    session.commit()
    record = stored(session, new.record.id)
    assert record.last_seen_at == frozen_clock()
    assert record.expires_at == frozen_clock() + REMEMBERED


def test_a_slide_never_brings_back_a_session_ended_meanwhile(session, frozen_clock, monkeypatch):
    new = started(session)
    expires = new.record.expires_at
    frozen_clock.advance(minutes=10)
    read_before_the_end = credentials.live_session(session, new.token)
    credentials.end_session(session, new.token)
    session.commit()
    # Another request ended it between this one's read and its write.
    monkeypatch.setattr(credentials, "live_session", lambda db, token: read_before_the_end)
    assert resume(session, new.token).touched
    session.commit()
    record = stored(session, new.record.id)
    assert record.ended_at is not None and record.expires_at == expires


def test_a_staff_members_view_never_slides(session, frozen_clock):
    operator = create_staff(session)
    new = started(session, viewer_staff_id=operator.id)
    expires = new.record.expires_at
    frozen_clock.advance(hours=1)
    record = resume(session, new.token)
    assert record.viewer_staff_id == operator.id and not record.touched
    assert stored(session, new.record.id).expires_at == expires
