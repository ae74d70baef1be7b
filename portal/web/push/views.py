"""The notification centre, and web push: the public key, subscribing a device,
the devices and the kinds a person wants pushed."""

from flask import Blueprint, abort, current_app, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.auth_session import current_person
from portal.domain import notifications
from portal.domain.errors import NotFound
from portal.domain.push import subscriptions
from portal.extensions import db
from portal.htmx import render
from portal.models import NotificationKind
from portal.web.push.forms import PreferencesForm
from portal.web.subscribers import view_as
from portal.web.urls import safe_next

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.app_context_processor
def unread():
    """The count on the bottom bar (asked only by the pages that draw it), and the public
    key the opt-in prompt subscribes with (None while push is off)."""

    def unread_notifications() -> int:
        if not current_user.is_authenticated:
            return 0
        return notifications.unread_count(db.session, current_person().id)

    cfg = current_app.config
    push_key = cfg["PORTAL_VAPID_PUBLIC_KEY"] if cfg["PORTAL_PUSH_ENABLED"] else None
    return {"unread_notifications": unread_notifications, "push_key": push_key}


@bp.route("/")
@login_required
def index():
    person = current_person()
    return render(
        "push/index.html",
        items=notifications.latest(db.session, person.id),
        unread=notifications.unread_count(db.session, person.id),
    )


@bp.route("/<id:notification_id>/open")
@login_required
def follow(notification_id: int):
    """Where a notification leads (the push's click too): marked read on the way, unless
    a staff member's read-only view opens it."""
    person_id = current_person().id
    try:
        if view_as.current_view() is None:
            notification = notifications.mark_read(db.session, person_id, notification_id)
            db.session.commit()
        else:
            notification = notifications.own(db.session, person_id, notification_id)
    except NotFound:
        abort(404)
    return redirect(safe_next(request.script_root + "/" + notification.url), 303)


@bp.route("/read", methods=["POST"])
@login_required
def read_all():
    notifications.mark_all_read(db.session, current_person().id)
    db.session.commit()
    return redirect(url_for("notifications.index"), 303)


def _settings_page(form: PreferencesForm, status: int = 200):
    person = current_person()
    devices = subscriptions.devices(db.session, person.id)
    return render(
        "push/settings.html",
        status=status,
        form=form,
        devices=[(d, subscriptions.browser_name(d.user_agent)) for d in devices],
    )


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Turn push on or off on this device, the kinds pushed, the devices."""
    person = current_person()
    choice = subscriptions.preferences(db.session, person.id)
    form = PreferencesForm(
        payments=choice.payments, visits=choice.visits, promotions=choice.promotions
    )
    if request.method == "GET":
        return _settings_page(form)
    if not form.validate():
        return _settings_page(form, status=400)
    kinds = {kind for kind in NotificationKind if form[kind.value].data}
    subscriptions.set_preferences(db.session, person.id, kinds)
    db.session.commit()
    return redirect(url_for("notifications.settings"), 303)


@bp.route("/devices/<id:subscription_id>/remove", methods=["POST"])
@login_required
def remove_device(subscription_id: int):
    try:
        subscriptions.remove_device(db.session, current_person().id, subscription_id)
    except NotFound:
        abort(404)
    db.session.commit()
    return redirect(url_for("notifications.settings"), 303)


def _json_error(message: str, status: int = 400):
    return jsonify(error=message), status


@bp.route("/push/subscribe", methods=["POST"])
@login_required
def subscribe():
    """The page's script posts the browser's PushSubscription (JSON, CSRF in a header)."""
    if not current_app.config["PORTAL_PUSH_ENABLED"]:
        return _json_error(_("Notifications are not available."), 409)
    data = request.get_json(silent=True)
    try:
        device = subscriptions.subscribe(
            db.session,
            current_person().id,
            data,
            user_agent=request.headers.get("User-Agent", ""),
            allow_local=current_app.config["PORTAL_PUSH_ALLOW_LOCAL"],
        )
    except subscriptions.InvalidSubscription:
        return _json_error(_("This browser sent no usable subscription."))
    db.session.commit()
    return jsonify(id=device.id), 201


@bp.route("/push/state", methods=["POST"])
@login_required
def push_state():
    """Whether push is on for this person on this device: the prompt asks with the
    browser's endpoint (in a body, not the URL, to keep it out of logs), since a
    subscription left in the browser may be the previous person's."""
    data = request.get_json(silent=True)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    try:
        on = subscriptions.is_on(db.session, current_person().id, endpoint)
    except subscriptions.InvalidSubscription:
        return _json_error(_("This browser sent no usable subscription."))
    return jsonify(on=on)


@bp.route("/push/unsubscribe", methods=["POST"])
@login_required
def unsubscribe():
    data = request.get_json(silent=True)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    try:
        subscriptions.unsubscribe(db.session, current_person().id, endpoint)
    except subscriptions.InvalidSubscription:
        return _json_error(_("This browser sent no usable subscription."))
    db.session.commit()
    return "", 204
