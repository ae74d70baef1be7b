"""Promotions: who sees one (audience by tariff and district, dates, state), the moves
from draft to published to withdrawn with their audit events, the pictures we accept,
and the push in batches against a push service of the test's own (sent, 410 removed,
a failing endpoint, a retry), written to each person's notification centre."""

import io
import socket
from datetime import date

import pytest
import sqlalchemy as sa
from PIL import Image

from portal import jobs
from portal.domain.errors import InvalidInput, NotFound
from portal.domain.promos import images, promotions, pushing
from portal.domain.push import subscriptions
from portal.models import (
    AuditEvent,
    Notification,
    NotificationKind,
    PromotionPush,
    PromotionState,
    PushSubscription,
    StaffRole,
)
from tests.domain.test_push import Browser
from tests.factories import (
    create_promotion,
    create_service,
    create_staff,
    create_subscriber,
    create_tariff,
)
from tests.push_service import PushService

TODAY = date(2026, 11, 24)  # the frozen clock's day in Yalta
KNOWN = ("Ялта-центр", "Массандра", "Ливадия")


@pytest.fixture
def marketing(session):
    member = create_staff(session, role=StaffRole.MARKETING)
    session.flush()
    return member


def subscriber_with(session, tariff=None, district=""):
    new = create_subscriber(session, tariffs=[tariff] if tariff else [])
    new.account.district = district
    session.flush()
    return new.account


def ids(items):
    return [p.id for p in items]


# --- who sees a promotion ---------------------------------------------------------------------


def test_audience_by_tariff_or_district(session, marketing):
    fast, slow = create_tariff(session), create_tariff(session)
    for_fast = create_promotion(session, marketing, tariffs=[fast])
    for_massandra = create_promotion(session, marketing, districts=["Массандра"])
    for_both = create_promotion(session, marketing, tariffs=[slow], districts=["Ливадия"])
    everyone = create_promotion(session, marketing)

    def seen(account):
        return set(ids(promotions.for_account(session, account, TODAY).current))

    assert seen(subscriber_with(session, fast)) >= {for_fast.id, everyone.id}
    assert for_massandra.id not in seen(subscriber_with(session, fast))
    assert for_both.id in seen(subscriber_with(session, fast, "Ливадия"))
    assert for_both.id in seen(subscriber_with(session, slow, "Ялта-центр"))
    in_massandra = seen(subscriber_with(session, slow, "Массандра"))
    assert for_massandra.id in in_massandra and for_fast.id not in in_massandra
    nobody_special = seen(subscriber_with(session, None, "Гурзуф"))
    assert everyone.id in nobody_special
    assert not nobody_special & {for_fast.id, for_massandra.id, for_both.id}


def test_an_ended_tariff_no_longer_counts(session, marketing):
    old = create_tariff(session)
    account = subscriber_with(session, old)
    account.subscriptions[0].ended_on = date(2026, 11, 1)
    session.flush()
    promotion = create_promotion(session, marketing, tariffs=[old])
    with pytest.raises(NotFound):
        promotions.seen_by(session, account, promotion.id, TODAY)
    people = session.scalars(promotions.audience(promotion, TODAY)).all()
    assert account.person_id not in people


def test_dates_current_first_then_coming_and_none_ended(session, marketing):
    tariff = create_tariff(session)
    account = subscriber_with(session, tariff)
    mine = {"tariffs": [tariff]}
    later = create_promotion(session, marketing, ends_on=date(2027, 1, 31), **mine)
    sooner = create_promotion(session, marketing, ends_on=date(2026, 11, 30), **mine)
    coming = create_promotion(
        session, marketing, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 5), **mine
    )
    ended = create_promotion(
        session, marketing, starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 23), **mine
    )
    offers = promotions.for_account(session, account, TODAY)
    assert ids(offers.current) == [sooner.id, later.id]
    assert ids(offers.coming) == [coming.id]
    assert promotions.seen_by(session, account, coming.id, TODAY) == coming
    with pytest.raises(NotFound):
        promotions.seen_by(session, account, ended.id, TODAY)


def test_drafts_and_withdrawn_are_seen_by_nobody(session, marketing):
    account = subscriber_with(session)
    draft = create_promotion(session, marketing, publish=False)
    gone = create_promotion(session, marketing)
    promotions.move(session, gone, PromotionState.WITHDRAWN, TODAY, staff_id=marketing.id)
    seen = promotions.for_account(session, account, TODAY)
    assert not {draft.id, gone.id} & set(ids(seen.current + seen.coming))
    for promotion in (draft, gone):
        with pytest.raises(NotFound):
            promotions.seen_by(session, account, promotion.id, TODAY)


# --- from draft to published to withdrawn ------------------------------------------------------


def test_moves_and_their_audit_events(session, marketing):
    promotion = create_promotion(session, marketing, publish=False)
    draft = promotions.Draft(
        title="Новое", text="Условия", starts_on=TODAY, ends_on=date(2026, 12, 1)
    )
    promotions.update(session, promotion, draft, known_districts=KNOWN, staff_id=marketing.id)
    promotions.move(session, promotion, PromotionState.PUBLISHED, TODAY, staff_id=marketing.id)
    with pytest.raises(promotions.NotEditable):
        promotions.update(session, promotion, draft, known_districts=KNOWN, staff_id=marketing.id)
    with pytest.raises(promotions.InvalidTransition):
        promotions.move(session, promotion, PromotionState.DRAFT, TODAY, staff_id=marketing.id)
    promotions.move(session, promotion, PromotionState.WITHDRAWN, TODAY, staff_id=marketing.id)
    with pytest.raises(promotions.InvalidTransition):
        promotions.move(session, promotion, PromotionState.PUBLISHED, TODAY, staff_id=marketing.id)
    events = session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.actor == f"staff:{marketing.id}")
        .order_by(AuditEvent.id)
    ).all()
    assert [e.event for e in events] == [
        "promotion.created",
        "promotion.changed",
        "promotion.published",
        "promotion.withdrawn",
    ]
    assert events[1].data["before"]["title"] == "Скорость ×2"
    assert events[1].data["after"]["title"] == "Новое"
    assert events[3].data == {
        "promotion": promotion.id,
        "before": {"state": "published"},
        "after": {"state": "withdrawn"},
    }


def test_a_promotion_past_its_last_day_is_not_published(session, marketing):
    promotion = create_promotion(
        session, marketing, starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 23), publish=False
    )
    with pytest.raises(InvalidInput, match="ended"):
        promotions.move(session, promotion, PromotionState.PUBLISHED, TODAY, staff_id=1)
    assert promotion.state is PromotionState.DRAFT


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"title": " "}, "title"),
        ({"text": "x" * 4001}, "text"),
        ({"ends_on": date(2026, 11, 1)}, "dates_order"),
        ({"ends_on": date(2028, 1, 1)}, "dates_too_long"),
        ({"tariff_ids": (2_000_000_000,)}, "tariffs"),
        ({"districts": ("Атлантида",)}, "districts"),
        ({"action_service_id": 2_000_000_000}, "action"),
    ],
)
def test_what_cannot_be_kept_is_refused(session, marketing, change, code):
    values = {"title": "Т", "text": "У", "starts_on": TODAY, "ends_on": TODAY} | change
    with pytest.raises(InvalidInput, match=code):
        promotions.create(
            session, promotions.Draft(**values), known_districts=KNOWN, staff_id=marketing.id
        )


def test_an_archived_addon_is_no_action(session, marketing, frozen_clock):
    addon = create_service(session, archived_at=frozen_clock())
    draft = promotions.Draft(
        title="Т", text="У", starts_on=TODAY, ends_on=TODAY, action_service_id=addon.id
    )
    with pytest.raises(InvalidInput, match="action"):
        promotions.create(session, draft, known_districts=KNOWN, staff_id=marketing.id)


# --- pictures ---------------------------------------------------------------------------------


def picture(kind: str, size=(40, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
def test_jpeg_png_and_webp_are_accepted(kind, content_type):
    assert images.inspect(picture(kind), 2**20) == (content_type, 40, 20)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (picture("GIF"), "type"),
        (picture("BMP"), "type"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "type"),
        (b"\x89PNG\r\n\x1a\n" + b"not really", "broken"),
        (picture("PNG")[:-30], "broken"),
        (picture("JPEG")[:200], "broken"),
        (b"", "broken"),
        (picture("PNG", (5000, 5000)), "too_big"),
        (picture("PNG") + b"\0" * 2**20, "too_big"),
    ],
)
def test_anything_else_is_refused(data, code):
    with pytest.raises(images.InvalidImage) as refused:
        images.inspect(data, 2**20)
    assert refused.value.code == code


def test_a_picture_is_kept_replaced_and_removed_with_audit(session, marketing):
    promotion = create_promotion(session, marketing, publish=False)
    images.set_image(session, promotion, picture("PNG"), max_bytes=2**20, staff_id=marketing.id)
    images.set_image(session, promotion, picture("JPEG"), max_bytes=2**20, staff_id=marketing.id)
    assert images.image_of(session, promotion).content_type == "image/jpeg"
    assert promotion.has_image and promotion.image_version == 2
    images.remove_image(session, promotion, staff_id=marketing.id)
    assert images.image_of(session, promotion) is None and not promotion.has_image
    promotions.move(session, promotion, PromotionState.PUBLISHED, TODAY, staff_id=marketing.id)
    with pytest.raises(promotions.NotEditable):
        images.set_image(session, promotion, picture("PNG"), max_bytes=2**20, staff_id=1)
    events = session.scalars(
        sa.select(AuditEvent.event)
        .where(AuditEvent.event.like("promotion.image%"))
        .where(AuditEvent.actor == f"staff:{marketing.id}")
        .order_by(AuditEvent.id)
    ).all()
    assert events == [images.CHANGED, images.CHANGED, images.REMOVED]


# --- the push ---------------------------------------------------------------------------------


@pytest.fixture
def push_on(app, monkeypatch):
    from portal.domain.push import keys

    pair = keys.generate()
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ENABLED", True)
    monkeypatch.setitem(app.config, "PORTAL_VAPID_PRIVATE_KEY", pair["private_key"])
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ALLOW_LOCAL", True)
    monkeypatch.setitem(app.config, "PORTAL_PUSH_MAX_ATTEMPTS", 2)
    monkeypatch.setitem(app.config, "PORTAL_PUSH_RETRY_DELAY", 3600)
    monkeypatch.setitem(app.config, "PORTAL_PROMO_PUSH_BATCH", 2)
    with app.app_context():
        jobs.drain(app)
    return pair


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (a push service that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_device(app, session, account, endpoint, *, promotions_too=True):
    browser = Browser(endpoint)
    with app.app_context():
        subscriptions.subscribe(
            session, account.person_id, browser.subscription(), user_agent="t", allow_local=True
        )
        if not promotions_too:
            subscriptions.set_preferences(session, account.person_id, {NotificationKind.PAYMENTS})
    session.flush()
    return browser


def test_the_push_goes_in_batches_and_counts_each_outcome(
    app, session, marketing, push_on, frozen_clock
):
    tariff = create_tariff(session)
    accounts = [subscriber_with(session, tariff) for _ in range(6)]
    outsider = subscriber_with(session, create_tariff(session))
    with PushService() as service:
        # The people in id order: sent, gone (410), down (no push service: retried),
        # busy (503: retried), refused (400: given up), and one who does not want
        # promotions pushed.
        sent = with_device(app, session, accounts[0], service.origin + "/ok")
        with_device(app, session, accounts[1], service.origin + "/gone")
        with_device(app, session, accounts[2], f"http://127.0.0.1:{closed_port()}/down")
        with_device(app, session, accounts[3], service.origin + "/busy")
        with_device(app, session, accounts[4], service.origin + "/bad")
        with_device(app, session, accounts[5], service.origin + "/quiet", promotions_too=False)
        with_device(app, session, outsider, service.origin + "/outsider")
        service.answer(201)
        service.answer(410)
        service.answer(503)
        service.answer(400)
        promotion = create_promotion(session, marketing, tariffs=[tariff])
        with app.app_context():
            push = pushing.start(session, promotion, TODAY, staff_id=marketing.id)
            session.commit()
            jobs.drain(app)
        paths = [r.path for r in service.received]
        session.refresh(push)
        counts = (push.people, push.sent, push.removed, push.failed, push.retrying)
        assert counts == (6, 1, 1, 1, 2)
        # The retries come due: "busy" is accepted now, "down" is still down and, at
        # its last attempt, given up; both leave "being retried".
        service.answer(201)
        with app.app_context():
            frozen_clock.advance(seconds=app.config["PORTAL_PUSH_RETRY_DELAY"] + 1)
            assert jobs.drain(app) == 2
    session.refresh(push)
    assert (push.people, push.sent, push.removed, push.failed, push.retrying) == (6, 2, 1, 2, 0)
    assert push.finished_at is not None
    assert paths == ["/ok", "/gone", "/busy", "/bad"]
    assert [r.path for r in service.received][4:] == ["/busy"]
    assert sent.decrypt(service.received[0].body)["title"] == promotion.title
    assert (
        session.scalar(
            sa.select(sa.func.count()).where(PushSubscription.endpoint == service.origin + "/gone")
        )
        == 0
    )
    centre = session.execute(
        sa.select(Notification.person_id, Notification.url, Notification.kind).where(
            Notification.person_id.in_([a.person_id for a in [*accounts, outsider]])
        )
    ).all()
    assert sorted(centre) == sorted(
        (a.person_id, f"promos/{promotion.id}", NotificationKind.PROMOTIONS) for a in accounts
    )


def test_a_push_is_started_once_and_a_batch_run_twice_does_nothing(
    app, session, marketing, push_on, frozen_clock
):
    tariff = create_tariff(session)
    account = subscriber_with(session, tariff)
    promotion = create_promotion(session, marketing, tariffs=[tariff])
    with app.app_context():
        push = pushing.start(session, promotion, TODAY, staff_id=marketing.id)
        session.commit()
        with pytest.raises(pushing.AlreadyPushed):
            pushing.start(session, promotion, TODAY, staff_id=marketing.id)
        jobs.drain(app)
        jobs.run_job_in(app, pushing.BATCH_JOB, push.id, 0)  # a repeated job
    mine = sa.select(sa.func.count()).where(Notification.person_id == account.person_id)
    assert session.scalar(mine) == 1
    session.refresh(push)
    assert push.people == 1 and push.finished_at is not None


def test_only_a_running_published_promotion_is_pushed(session, marketing):
    draft = create_promotion(session, marketing, publish=False)
    coming = create_promotion(session, marketing, starts_on=date(2026, 12, 1))
    for promotion in (draft, coming):
        with pytest.raises(pushing.NotRunning):
            pushing.start(session, promotion, TODAY, staff_id=marketing.id)


def test_a_push_whose_next_job_was_lost_is_resumed_by_the_sweep(
    app, session, marketing, push_on, frozen_clock
):
    tariff = create_tariff(session)
    accounts = [subscriber_with(session, tariff) for _ in range(3)]
    promotion = create_promotion(session, marketing, tariffs=[tariff])
    # Started in a process that stopped before its queue ran anything.
    push = PromotionPush(
        promotion_id=promotion.id,
        started_at=frozen_clock(),
        progressed_at=frozen_clock(),
        started_by=marketing.id,
    )
    session.add(push)
    session.commit()
    with app.app_context():
        jobs.drain(app, sweep=True)  # not quiet for long yet: left alone
        session.refresh(push)
        assert push.people == 0
        frozen_clock.advance(minutes=6)
        jobs.drain(app, sweep=True)
    session.refresh(push)
    assert push.people == 3 and push.finished_at is not None
    mine = sa.select(sa.func.count()).where(
        Notification.person_id.in_([a.person_id for a in accounts])
    )
    assert session.scalar(mine) == 3
