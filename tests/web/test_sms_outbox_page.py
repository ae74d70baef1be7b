"""The demo SMS outbox: readable in demo and development mode, absent in production, and
a production start refuses demo tools and a misconfigured gateway."""

import pytest

from portal.domain.sms import delivery, queue
from portal.domain.sms.outbox import OutboxGateway
from tests.conftest import make_test_app

SECRET_TEXT = "Новый пароль: Тайна-77"


def test_outbox_page_shows_sent_messages_and_says_test_mode(app, client, session):
    with app.app_context():
        message = queue(
            session,
            to_phone="+79781234567",
            text=SECRET_TEXT,
            purpose="recovery",
            sensitive=True,
            secret_key=app.config["SECRET_KEY"],
        )
        session.commit()
        policy = delivery.RetryPolicy(keep_sensitive_text=True, secret_key=app.config["SECRET_KEY"])
        delivery.deliver(session, message.id, gateway=OutboxGateway(), policy=policy)

    response = client.get("/demo/sms/")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "ТЕСТОВЫЙ РЕЖИМ" in html  # TEST MODE, in Russian by default
    assert SECRET_TEXT in html and "+79781234567" in html


def test_outbox_page_is_not_there_in_production(tmp_path, database_urls):
    app = make_test_app(
        database_urls["sqlite"], tmp_path, PORTAL_MODE="production", PORTAL_SMS_OUTBOX_PAGE=False
    )
    assert app.test_client().get("/demo/sms/").status_code == 404


def test_production_refuses_the_outbox_page(tmp_path, database_urls):
    with pytest.raises(RuntimeError, match="PORTAL_SMS_OUTBOX_PAGE"):
        make_test_app(
            database_urls["sqlite"], tmp_path, PORTAL_MODE="production", PORTAL_SMS_OUTBOX_PAGE=True
        )


def test_production_refuses_a_misconfigured_smpp_gateway(tmp_path, database_urls):
    with pytest.raises(RuntimeError, match="PORTAL_SMPP_HOST"):
        make_test_app(
            database_urls["sqlite"],
            tmp_path,
            PORTAL_MODE="production",
            PORTAL_SMS_OUTBOX_PAGE=False,
            PORTAL_SMS_BACKEND="smpp",
            PORTAL_SMPP_HOST="",
            PORTAL_SMPP_SYSTEM_ID="x",
            PORTAL_SMPP_PASSWORD="y",
        )


def test_production_refuses_an_unknown_backend(tmp_path, database_urls):
    with pytest.raises(RuntimeError, match="PORTAL_SMS_BACKEND"):
        make_test_app(
            database_urls["sqlite"],
            tmp_path,
            PORTAL_MODE="production",
            PORTAL_SMS_OUTBOX_PAGE=False,
            PORTAL_SMS_BACKEND="carrier-pigeon",
        )


def test_production_starts_with_a_complete_smpp_configuration(tmp_path, database_urls):
    make_test_app(
        database_urls["sqlite"],
        tmp_path,
        PORTAL_MODE="production",
        PORTAL_SMS_OUTBOX_PAGE=False,
        PORTAL_SMS_BACKEND="smpp",
        PORTAL_SMPP_HOST="smsc.example",
        PORTAL_SMPP_SYSTEM_ID="portal",
        PORTAL_SMPP_PASSWORD="secret",
    )


@pytest.mark.parametrize(("mode", "shown"), [("development", True), ("production", False)])
def test_outbox_command_opens_sealed_texts_only_in_demo_and_development(app, mode, shown):
    with app.app_context():
        from portal.extensions import db

        queue(
            db.session,
            to_phone="+79781234567",
            text=SECRET_TEXT,
            purpose="recovery",
            sensitive=True,
            secret_key=app.config["SECRET_KEY"],
        )
        db.session.commit()
    app.config["PORTAL_MODE"] = mode
    try:
        result = app.test_cli_runner().invoke(args=["sms", "outbox"])
    finally:
        app.config["PORTAL_MODE"] = "development"
    assert result.exit_code == 0
    assert "+79781234567" in result.output
    assert (SECRET_TEXT in result.output) is shown
