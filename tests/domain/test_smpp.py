"""The smpp backend against a real (minimal) SMPP server on 127.0.0.1: what reaches the
server, and how every way of failing is reported and retried."""

import logging
from datetime import timedelta

import pytest

from portal.domain.sms import delivery, queue
from portal.domain.sms.base import OutgoingSms, TemporaryGatewayError
from portal.domain.sms.smpp import SmppGateway, SmppSettings, message_parts
from portal.models import SmsStatus
from tests.smpp_server import Behaviour, SmppTestServer, join_parts

LONG_TEXT = (
    "Здравствуйте! Ваш новый пароль для входа в личный кабинет OneCity: Лес-Море-42. "
    "Войдите с ним и сразу смените его на свой. Если вы не просили новый пароль, "
    "позвоните в поддержку: +7 (978) 00-02-535. Мы работаем круглосуточно."
)
PHONE = "+79781234567"


@pytest.fixture
def smpp_server():
    """Start servers with the behaviour a test asks for; stop them after."""
    started = []

    def start(**behaviour) -> SmppTestServer:
        server = SmppTestServer(Behaviour(**behaviour)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def gateway_for(server: SmppTestServer, **overrides) -> SmppGateway:
    settings = {
        "host": server.host,
        "port": server.port,
        "system_id": "portal",
        "password": "secret",
        "source_addr": "OneCity",
        "timeout": 2.0,
        "receipt_wait": 0.3,
        **overrides,
    }
    return SmppGateway(SmppSettings(**settings))


def outgoing(text=LONG_TEXT, message_id=7, **kw) -> OutgoingSms:
    return OutgoingSms(message_id=message_id, to_phone=PHONE, text=text, **kw)


# --- what the server receives ---------------------------------------------------------


def test_long_cyrillic_text_arrives_as_ucs2_parts_that_join_into_the_text(smpp_server):
    server = smpp_server()
    result = gateway_for(server).send(outgoing())

    submits = server.submits()
    assert len(LONG_TEXT) > 200 and len(submits) == 4
    assert all(pdu.data_coding == 8 and pdu.esm_class == 0x40 for pdu in submits)
    assert join_parts(submits) == LONG_TEXT
    # One reference in every part's concatenation header, and the right count/sequence.
    assert {pdu.short_message[3] for pdu in submits} == {7}
    assert [pdu.short_message[4:6] for pdu in submits] == [bytes([4, n]) for n in range(1, 5)]
    assert sorted(result.acknowledged) == [1, 2, 3, 4]


def test_destination_has_no_plus_and_the_sender_is_the_configured_name(smpp_server):
    server = smpp_server()
    gateway_for(server).send(outgoing(text="Код: 1234"))

    (submit,) = server.submits()
    assert submit.destination == "79781234567"
    assert submit.source == "OneCity"
    assert submit.esm_class == 0 and join_parts([submit]) == "Код: 1234"


def test_session_binds_as_transceiver_and_unbinds(smpp_server):
    server = smpp_server()
    gateway_for(server).send(outgoing(text="Привет"))

    commands = server.commands()
    assert commands[0] == "bind_transceiver" and commands[-1] == "unbind"
    assert server.received[0].system_id == "portal"


def test_delivery_receipts_seen_while_bound_are_returned(smpp_server):
    server = smpp_server()
    result = gateway_for(server).send(outgoing(text="Привет"))

    assert [r.gateway_id for r in result.receipts] == [result.acknowledged[1]]
    assert result.receipts[0].delivered


def test_no_text_reaches_the_logs_even_at_debug_level(smpp_server, caplog):
    caplog.set_level(logging.DEBUG)
    server = smpp_server()
    gateway_for(server).send(outgoing(text="Пароль: Тайна-77", sensitive=True))

    encoded = "Тайна".encode("utf-16-be").hex()
    assert server.submits() and caplog.records
    assert all(
        "Тайна" not in r.getMessage() and encoded not in r.getMessage() for r in caplog.records
    )


def test_parts_keep_their_reference_across_calls():
    first, _, _ = message_parts(LONG_TEXT, reference=300)
    again, _, _ = message_parts(LONG_TEXT, reference=300)
    assert first == again and first[0][3] == 300 % 256


# --- failures -------------------------------------------------------------------------


def test_a_refused_bind_is_a_temporary_failure(smpp_server):
    server = smpp_server(refuse_bind=True)
    with pytest.raises(TemporaryGatewayError, match="bind refused"):
        gateway_for(server).send(outgoing())
    assert server.submits() == []


def test_throttling_is_a_temporary_failure(smpp_server):
    server = smpp_server(throttle_submits=1)
    with pytest.raises(TemporaryGatewayError, match="0x58"):
        gateway_for(server).send(outgoing(text="Привет"))


def test_a_server_that_never_answers_the_bind_times_out(smpp_server):
    server = smpp_server(never_answer="bind")
    with pytest.raises(TemporaryGatewayError, match="cannot connect"):
        gateway_for(server, timeout=0.3).send(outgoing())


def test_a_server_that_never_answers_a_submit_times_out(smpp_server):
    server = smpp_server(never_answer="submit")
    with pytest.raises(TemporaryGatewayError, match="no answer") as failure:
        gateway_for(server, timeout=0.3).send(outgoing())
    assert failure.value.acknowledged == {}


def test_nothing_listening_is_a_temporary_failure(smpp_server):
    server = smpp_server()
    server.stop()
    with pytest.raises(TemporaryGatewayError, match="cannot connect"):
        gateway_for(server, timeout=0.3).send(outgoing())


def test_dropped_connection_keeps_the_acknowledged_parts_and_the_retry_sends_the_rest(
    smpp_server,
):
    server = smpp_server(drop_after_submits=1)
    gateway = gateway_for(server)
    with pytest.raises(TemporaryGatewayError, match="connection lost") as failure:
        gateway.send(outgoing())
    assert list(failure.value.acknowledged) == [1]

    result = gateway.send(outgoing(acknowledged=failure.value.acknowledged))

    submits = server.submits()
    assert [pdu.short_message[5] for pdu in submits] == [1, 2, 3, 4]  # each part once
    assert join_parts(submits) == LONG_TEXT
    assert sorted(result.acknowledged) == [1, 2, 3, 4]


def test_a_part_sent_but_never_acknowledged_is_sent_again(smpp_server):
    """The at-least-once boundary: the server had part 2 when the line went dead, but the
    portal cannot know it did, so part 2 goes again (a real SMSC might deliver it twice)."""
    server = smpp_server(drop_after_submits=1, drop_unanswered=True)
    gateway = gateway_for(server)
    with pytest.raises(TemporaryGatewayError) as failure:
        gateway.send(outgoing())
    gateway.send(outgoing(acknowledged=failure.value.acknowledged))

    assert [pdu.short_message[5] for pdu in server.submits()] == [1, 2, 2, 3, 4]


# --- through the outbox ----------------------------------------------------------------


def test_message_dropped_mid_send_is_retried_and_each_part_reaches_the_server_once(
    app, session, frozen_clock, smpp_server
):
    server = smpp_server(drop_after_submits=2, send_receipts=False)
    gateway = gateway_for(server)
    policy = delivery.RetryPolicy()
    with app.app_context():
        message = queue(session, to_phone=PHONE, text=LONG_TEXT, purpose="recovery")
        session.commit()

        first = delivery.deliver(session, message.id, gateway=gateway, policy=policy)
        assert first.status == SmsStatus.PENDING
        assert sorted(message.parts) == ["1", "2"] and message.attempts == 1
        assert first.next_attempt_at == frozen_clock() + timedelta(seconds=30)

        frozen_clock.advance(seconds=30)
        second = delivery.deliver(session, message.id, gateway=gateway, policy=policy)

    assert second.status == SmsStatus.SENT
    submits = server.submits()
    assert [pdu.short_message[5] for pdu in submits] == [1, 2, 3, 4]
    assert join_parts(submits) == LONG_TEXT
    assert len(message.gateway_ids) == 4 and message.attempts == 2


def test_receipt_marks_the_message_delivered(app, session, frozen_clock, smpp_server):
    server = smpp_server()
    with app.app_context():
        message = queue(session, to_phone=PHONE, text="Привет", purpose="test")
        session.commit()
        delivery.deliver(
            session, message.id, gateway=gateway_for(server), policy=delivery.RetryPolicy()
        )

    assert message.status == SmsStatus.DELIVERED
    assert message.delivered_at == frozen_clock()
