"""The agent-event contract over real Redis, and the masking of personal data in logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest
import redis

from campaigns.agents.events import (
    AgentEvent,
    AgentEventError,
    agent_board,
    agent_call,
    channel_of,
    end_wrap,
    publish_agent_event,
    subscribe_agent_events,
)
from campaigns.observability import MaskingFilter, mask_email, mask_phone, mask_pii

AT = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)


def test_events_round_trip_and_bad_ones_name_the_field() -> None:
    event = AgentEvent(
        "connect", "agent7", AT, customer_id="C1", attempt_id=12, run_id=4, campaign="co-tarjetas"
    )
    assert AgentEvent.from_json(event.to_json()) == event
    assert '"type":"connect"' in event.to_json() and "state" not in event.to_json()
    bad = {
        '{"type":"ring","agent":"a","at":"2026-11-24T15:00:00+00:00"}': "type 'ring'",
        '{"type":"connect","agent":"a","at":"2026-11-24T15:00:00+00:00"}': "'customer_id'",
        '{"type":"state","agent":"a","state":"asleep","at":"2026-11-24T15:00:00+00:00"}': "asleep",
        '{"type":"state","agent":"a","state":"ready","at":"yesterday"}': "'at'",
        '{"type":"state","agent":"a","state":"ready","at":"2026-11-24T15:00:00"}': "offset",
        '{"type":"connect","agent":"a","customer_id":"C","attempt_id":"x",'
        '"at":"2026-11-24T15:00:00+00:00"}': "'attempt_id'",
        '{"type":"state","agent":"a","colour":"red","at":"2026-11-24T15:00:00+00:00"}': "colour",
        "[1]": "JSON object",
    }
    for text, message in bad.items():
        with pytest.raises(AgentEventError, match=message):
            AgentEvent.from_json(text)


@pytest.mark.redis
def test_publish_keeps_the_board_and_subscribers_hear_it(web_redis: tuple[str, str]) -> None:
    redis_url, ns = web_redis
    client = redis.Redis.from_url(redis_url)

    async def scenario() -> list[AgentEvent]:
        heard: list[AgentEvent] = []
        stream = subscribe_agent_events(redis_url, namespace=ns)
        first = asyncio.ensure_future(anext(stream))
        # publish only once Redis counts our subscriber: earlier messages are not kept
        async with asyncio.timeout(10):
            while client.pubsub_numsub(channel_of(ns))[0][1] == 0:
                await asyncio.sleep(0.02)
        publish_agent_event(
            client,
            AgentEvent("state", "agent1", AT, state="paused", reason="break"),
            namespace=ns,
        )
        client.publish(channel_of(ns), "not json")  # skipped, not fatal
        publish_agent_event(
            client,
            AgentEvent("connect", "agent1", AT, customer_id="C1", attempt_id=9, run_id=2),
            namespace=ns,
        )
        heard.append(await asyncio.wait_for(first, 5))
        heard.append(await asyncio.wait_for(anext(stream), 5))
        await stream.aclose()
        return heard

    try:
        heard = asyncio.run(scenario())
        assert [e.type for e in heard] == ["state", "connect"]
        call = agent_call(client, "agent1", namespace=ns)
        assert (call.state, call.customer_id, call.attempt_id, call.run_id, call.reason) == (
            "talking",
            "C1",
            9,
            2,
            None,
        )
        publish_agent_event(
            client, AgentEvent("complete", "agent1", AT, customer_id="C1"), namespace=ns
        )
        assert agent_call(client, "agent1", namespace=ns).state == "wrap"
        assert (
            agent_call(client, "agent1", namespace=ns).customer_id == "C1"
        )  # kept until the disposition
        end_wrap(client, "agent1", state="ready", now=AT, namespace=ns)
        call = agent_call(client, "agent1", namespace=ns)
        assert (call.state, call.customer_id, call.attempt_id) == ("ready", None, None)
        assert [c.agent for c in agent_board(client, namespace=ns)] == ["agent1"]
        assert agent_call(client, "agent9", namespace=ns).state == "logged_out"
    finally:
        client.close()


@pytest.mark.redis
def test_open_and_unreached_keep_the_customer_in_preview(web_redis: tuple[str, str]) -> None:
    """The contract's state hash for the types the console and the manual dial publish."""
    redis_url, ns = web_redis
    client = redis.Redis.from_url(redis_url)
    opened = AgentEvent("open", "agent1", AT, customer_id="C1", run_id=2, planned_id=88)
    assert AgentEvent.from_json(opened.to_json()) == opened
    with pytest.raises(AgentEventError, match="'customer_id'"):
        AgentEvent("open", "agent1", AT)
    with pytest.raises(AgentEventError, match="'planned_id'"):
        AgentEvent.from_json(opened.to_json().replace("88", '"88"'))
    try:
        publish_agent_event(client, opened, namespace=ns)
        call = agent_call(client, "agent1", namespace=ns)
        assert (call.state, call.customer_id, call.attempt_id, call.planned_id) == (
            "preview",
            "C1",
            None,
            88,
        )
        unreached = AgentEvent(
            "unreached", "agent1", AT, customer_id="C1", attempt_id=5, run_id=2, planned_id=88
        )
        publish_agent_event(client, unreached, namespace=ns)
        call = agent_call(client, "agent1", namespace=ns)
        assert (call.state, call.attempt_id, call.planned_id) == ("preview", 5, 88)
        end_wrap(client, "agent1", state="ready", now=AT, namespace=ns)
        call = agent_call(client, "agent1", namespace=ns)
        assert (call.state, call.customer_id, call.planned_id) == ("ready", None, None)
    finally:
        client.close()


def test_masks_keep_numbers_apart_without_giving_them_away() -> None:
    assert mask_phone("+573001234567") == "+57•••••••567"
    assert mask_phone("123") == "•••"
    assert mask_email("Maria.Nunez@Example.com") == "M•••@Example.com"
    text = mask_pii("sms to +573001234567 and (212) 555-0123, mail maria@example.com, run 42")
    assert "3001234567" not in text and "555-0123" not in text and "maria@" not in text
    assert "run 42" in text
    assert mask_pii("GET /x?phone=%2B573001234567&to=ana%40example.com from 127.0.0.1:5") == (
        "GET /x?phone=+57•••••••567&to=a•••@example.com from 127.0.0.1:5"
    )


def test_log_records_are_masked_before_any_handler_writes_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.web.masking")
    masking = MaskingFilter()
    logger.addFilter(masking)
    try:
        with caplog.at_level(logging.INFO, logger="tests.web.masking"):
            logger.info("calling %s for %s", "+573001234567", "ana@example.com")
    finally:
        logger.removeFilter(masking)
    (record,) = caplog.records
    assert record.getMessage() == "calling +57•••••••567 for a•••@example.com"


def test_uvicorn_access_lines_are_masked_and_still_format() -> None:
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/c?tel=%2B573001234567", "1.1", 200),
        None,
    )
    assert MaskingFilter().filter(record)
    line = AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s').format(record)
    assert line == '127.0.0.1:5000 "GET /c?tel=+57•••••••567 HTTP/1.1" 200 OK'
