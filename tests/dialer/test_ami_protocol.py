"""The AMI parser against real traffic recorded from the sandbox Asterisk 22.

The fixtures in tests/fixtures/ami/*.bin are the untouched bytes Asterisk
sent (``tests/fixtures/ami/record.py`` re-records them). TCP may split the
stream anywhere, so every fixture is also fed one byte at a time and split at
every byte boundary, including inside the multibyte characters ("Muñoz",
"café") that the recordings contain.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.ami.events import (
    AgentComplete,
    AgentConnect,
    DeviceState,
    Hangup,
    OriginateReason,
    OriginateResponse,
    QueueCallerAbandon,
    QueueMemberPause,
    QueueMemberStatus,
    QueueParams,
    QueueStatusMember,
    UserEvent,
    typed_event,
)
from dialer.ami.protocol import (
    AmiEvent,
    AmiGreeting,
    AmiMessage,
    AmiParser,
    AmiProtocolError,
    AmiResponse,
    encode_action,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
ALL = sorted(p.name for p in FIXTURES.glob("*.bin"))


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(data: bytes) -> list[AmiMessage]:
    return AmiParser().feed(data)


def events(messages: list[AmiMessage], name: str) -> list[AmiEvent]:
    return [m for m in messages if isinstance(m, AmiEvent) and m.name == name]


def test_fixtures_were_recorded() -> None:
    assert len(ALL) >= 8, f"missing recordings in {FIXTURES}"


@pytest.mark.parametrize("name", ALL)
def test_every_fixture_parses_into_greeting_then_blocks(name: str) -> None:
    data = load(name)
    messages = parse(data)
    assert isinstance(messages[0], AmiGreeting)
    assert messages[0].version == "11.0.0"
    # one message per blank-line-terminated block after the greeting line
    body = data.split(b"\r\n", 1)[1]
    assert len(messages) - 1 == body.count(b"\r\n\r\n")
    login = messages[1]
    assert isinstance(login, AmiResponse)
    assert login.success and login.action_id == "login-1"
    assert login.message == "Authentication accepted"
    last = messages[-1]
    assert isinstance(last, AmiResponse) and last.response == "Goodbye"


@pytest.mark.parametrize("name", ALL)
def test_byte_at_a_time_equals_whole(name: str) -> None:
    data = load(name)
    parser = AmiParser()
    one_by_one = parser.feed_all(data[i : i + 1] for i in range(len(data)))
    assert one_by_one == parse(data)


# Byte-at-a-time feeding (above) already puts a boundary everywhere; this also
# checks each two-piece split, on the recording with "café" in two places.
@pytest.mark.parametrize("name", ["login.bin", "agent_states_queue_status.bin"])
def test_split_at_every_byte_boundary(name: str) -> None:
    data = load(name)
    whole = parse(data)
    for cut in range(len(data) + 1):
        parser = AmiParser()
        assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == whole, f"cut at {cut}"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20_996), max_size=40))
def test_any_chunking_equals_whole(cuts: list[int]) -> None:
    data = load("originate_answer_agent.bin")
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    assert AmiParser().feed_all(chunks) == parse(data)


def test_multibyte_character_split_across_reads_survives() -> None:
    data = load("originate_abandon.bin")
    n_tilde = "ñ".encode()
    cut = data.index(n_tilde) + 1  # between the two bytes of "ñ"
    parser = AmiParser()
    first = parser.feed(data[:cut])
    rest = parser.feed(data[cut:])
    names = {m.get("CallerIDName") for m in first + rest if isinstance(m, AmiEvent)}
    assert "Cobranza Muñoz" in names
    assert not any("\ufffd" in (n or "") for n in names)


def test_answered_call_reaches_an_agent() -> None:
    messages = parse(load("originate_answer_agent.bin"))
    typed = [typed_event(m) for m in messages if isinstance(m, AmiEvent)]
    (orig,) = [t for t in typed if isinstance(t, OriginateResponse)]
    assert orig.success and orig.action_id == "orig-answer"
    assert OriginateReason(orig.reason) is OriginateReason.ANSWERED
    assert orig.uniqueid == "call-answer"  # the ChannelId we chose
    (amd,) = [t for t in typed if isinstance(t, UserEvent)]
    assert amd.user_event == "CadenciaAmd" and amd.get("Status") == "HUMAN"
    assert amd.get("attempt") == "orig-answer"
    (connect,) = [t for t in typed if isinstance(t, AgentConnect)]
    assert connect.queue == "cadencia-test" and connect.uniqueid == "call-answer"
    assert connect.member_name in ("agent1", "agent2")
    (complete,) = [t for t in typed if isinstance(t, AgentComplete)]
    assert complete.talk_time == 2 and complete.reason == "agent"
    statuses = [t for t in typed if isinstance(t, QueueMemberStatus)]
    assert [s.device_state for s in statuses] == [DeviceState.INUSE, DeviceState.NOT_INUSE]
    hangups = {t.uniqueid: t.cause for t in typed if isinstance(t, Hangup)}
    assert hangups["call-answer"] == 16


@pytest.mark.parametrize(
    ("name", "reason", "uniqueid"),
    [
        ("originate_busy.bin", OriginateReason.BUSY, "call-busy"),
        ("originate_no_answer.bin", OriginateReason.RINGING, "call-noanswer"),
    ],
)
def test_failed_originates_say_why(name: str, reason: OriginateReason, uniqueid: str) -> None:
    messages = parse(load(name))
    (event,) = events(messages, "OriginateResponse")
    typed = typed_event(event)
    assert isinstance(typed, OriginateResponse)
    assert not typed.success and typed.reason == reason and typed.reason_name == reason.name
    assert typed.uniqueid == uniqueid


def test_machine_is_detected_and_announced() -> None:
    messages = parse(load("originate_machine.bin"))
    amd = [typed_event(e) for e in events(messages, "UserEvent")]
    assert [(u.user_event, u.get("Status")) for u in amd if isinstance(u, UserEvent)] == [
        ("CadenciaAmd", "MACHINE")
    ]


def test_caller_hanging_up_in_queue_is_an_abandon() -> None:
    messages = parse(load("originate_abandon.bin"))
    (event,) = events(messages, "QueueCallerAbandon")
    typed = typed_event(event)
    assert isinstance(typed, QueueCallerAbandon)
    assert typed.queue == "cadencia-test" and typed.uniqueid == "call-abandon"
    assert typed.position == 1 and typed.hold_time >= 1


def test_no_agent_within_the_wait_plays_the_safe_harbour_message() -> None:
    messages = parse(load("originate_safe_harbour.bin"))
    users = [typed_event(e) for e in events(messages, "UserEvent")]
    abandon = [u for u in users if isinstance(u, UserEvent) and u.user_event == "CadenciaAbandon"]
    assert len(abandon) == 1 and abandon[0].get("QueueStatus") == "TIMEOUT"


def test_queue_status_event_list_and_member_states() -> None:
    messages = parse(load("agent_states_queue_status.bin"))
    (status,) = [typed_event(e) for e in events(messages, "QueueMemberStatus")]
    assert isinstance(status, QueueMemberStatus)
    assert status.member_name == "agent1" and status.device_state is DeviceState.UNAVAILABLE
    (pause,) = [typed_event(e) for e in events(messages, "QueueMemberPause")]
    assert isinstance(pause, QueueMemberPause)
    assert pause.paused and pause.paused_reason == "almuerzo café"
    start = [m for m in messages if isinstance(m, AmiResponse) and m.action_id == "qs-1"]
    assert len(start) == 1 and start[0].is_event_list_start
    items = [m for m in messages if isinstance(m, AmiEvent) and m.action_id == "qs-1"]
    assert [i.name for i in items] == [
        "QueueParams",
        "QueueMember",
        "QueueMember",
        "QueueStatusComplete",
    ]
    assert items[-1].get("EventList") == "Complete" and items[-1].get("ListItems") == "3"
    params = typed_event(items[0])
    assert isinstance(params, QueueParams) and params.queue == "cadencia-test"
    members = [typed_event(i) for i in items[1:3]]
    assert all(isinstance(m, QueueStatusMember) for m in members)
    assert [m.interface for m in members if isinstance(m, QueueStatusMember)] == [
        "Local/agent1@agents/n",
        "Local/agent2@agents/n",
    ]


def test_command_output_asterisk_22_style() -> None:
    messages = parse(load("agent_states_queue_status.bin"))
    (version,) = [
        m for m in messages if isinstance(m, AmiResponse) and m.action_id == "cmd-version"
    ]
    assert version.output and version.output[0].startswith("Asterisk 22.")


def test_legacy_follows_output_keeps_blank_lines_and_colons() -> None:
    # Asterisk before 14 answered Command this way; the raw text may contain
    # blank lines and colons, and ends at --END COMMAND--.
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\n"
        b"Name: value looks like a field\r\n\r\nsecond paragraph\r\n--END COMMAND--\r\n\r\n"
        b"Event: Ping\r\n\r\n"
    )
    messages = AmiParser(expect_greeting=False).feed(data)
    assert len(messages) == 2
    response = messages[0]
    assert isinstance(response, AmiResponse) and response.success
    assert response.action_id == "c1"
    assert response.output == ("Name: value looks like a field", "", "second paragraph")
    assert isinstance(messages[1], AmiEvent) and messages[1].name == "Ping"


def test_repeated_keys_are_all_kept_in_order() -> None:
    (event,) = AmiParser(expect_greeting=False).feed(
        b"Event: X\r\nChanVariable: a=1\r\nChanVariable: b=2\r\nEmpty:\r\n\r\n"
    )
    assert isinstance(event, AmiEvent)
    assert event.getall("chanvariable") == ["a=1", "b=2"]
    assert event.get("Empty") == ""


def test_bare_newlines_are_accepted() -> None:
    messages = AmiParser().feed(b"Asterisk Call Manager/11.0.0\nResponse: Success\nActionID: 7\n\n")
    assert isinstance(messages[1], AmiResponse) and messages[1].action_id == "7"


def test_a_port_that_is_not_ami_is_named_in_the_error() -> None:
    with pytest.raises(AmiProtocolError, match=r"expected the AMI greeting.*HTTP/1\.1 400"):
        AmiParser().feed(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_message_that_is_neither_event_nor_response_is_refused() -> None:
    with pytest.raises(AmiProtocolError, match="'Action'"):
        AmiParser(expect_greeting=False).feed(b"Action: Ping\r\n\r\n")


def test_a_bad_number_names_the_event_and_field() -> None:
    (event,) = AmiParser(expect_greeting=False).feed(
        b"Event: AgentComplete\r\nTalkTime: soon\r\n\r\n"
    )
    assert isinstance(event, AmiEvent)
    with pytest.raises(AmiProtocolError, match="AgentComplete: field TalkTime"):
        typed_event(event)


def test_encode_action_refuses_line_breaks_that_would_inject_an_action() -> None:
    assert encode_action("Ping", "1") == b"Action: Ping\r\nActionID: 1\r\n\r\n"
    encoded = encode_action("Originate", "2", [("CallerID", '"Muñoz" <1>')])
    assert '"Muñoz"'.encode() in encoded
    with pytest.raises(ValueError, match=r"CallerID.*line break"):
        encode_action("Originate", "3", [("CallerID", "x\r\n\r\nAction: Hangup")])
    with pytest.raises(ValueError, match="invalid field name"):
        encode_action("Originate", "4", [("Bad:Key", "v")])


@pytest.mark.parametrize("name", ALL)
def test_manager_eventfilter_keeps_the_noise_out(name: str) -> None:
    # manager.conf excludes these by name; the recordings prove Asterisk obeys.
    names = {m.name for m in parse(load(name)) if isinstance(m, AmiEvent)}
    assert not names & {"VarSet", "Newexten", "TestEvent", "RTCPSent"}
