"""The agent's WebRTC softphone, in Chromium with fake media devices, on the sandbox PBX.

Production code does everything a call needs: ``cadencia softphone
provision``'s function writes the agents' PJSIP endpoints from the users
table and reloads res_pjsip as the provisioning AMI user; the console hands
each logged-in agent their derived SIP credentials; the page registers over
the sandbox's WSS (its self-signed certificate accepted by the browser, as a
developer would), the console adds the agent to the queue (QueueAdd,
paused); Ready unpauses it; the slot's dial session (``run_dial_session``)
calls C1, whose simulated phone answers, and the campaign queue rings the
agent's browser. The test plays the outside world and the people: the
debtor's phone, the agents' fingers. Audio both ways is read from the page's
``getStats`` (inbound-rtp and outbound-rtp packets) and from Asterisk's own
RTP counters (``pjsip show channelstats``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from cadencia.console.app import create_web_app
from cadencia.console.security import create_user
from cadencia.console.softphone_provision import provision, sip_password
from campaigns.dialing import DialerSettings, DialSlot, RedisHopper
from campaigns.run.state import advance, create_run
from campaigns.settings import AmiSettings, SoftphoneSettings
from campaigns.storage.db import make_engine, migrate
from dialer.session import SessionReport
from sandbox import asterisk as sandbox
from tests.support.asterisk import member_pause, reset_agents
from tests.web.browser import CHROMIUM_ARGS, LiveServer, ensure_chromium
from tests.web.conftest import NOW, PASSWORD, seed
from tests.web.test_browser import (
    EXAMPLES,
    QUEUE,
    InThread,
    ShiftClock,
    answering_phone,
    c1_planned_call,
    dial_job,
    until,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.redis, pytest.mark.slow]
# C1 answers at once and stays on the line 40 s (the agent hangs up first).
TALKING_DEBTOR = {"PSTN_RING": "1", "PSTN_TALK": "40", "PSTN_P_ANSWER": "0", "PSTN_P_MACHINE": "0"}
KEY = "softphone-test-key-" + "k" * 32
WAIT_MS = 30_000
# Fake microphone and camera, no permission prompt; the sandbox's certificate
# is self-signed; real host candidates (not mDNS names Asterisk cannot resolve).
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--ignore-certificate-errors",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def media_browser() -> Iterator[Any]:
    """Chromium with fake media devices (its own: the shared one has no fake devices)."""
    executable = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(executable), args=[*CHROMIUM_ARGS, *MEDIA_ARGS], headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def floor(
    tmp_path: Path, dial_redis_url: str, asterisk_sandbox: sandbox.SandboxState
) -> Iterator[dict[str, Any]]:
    """Two softphone agents provisioned in the sandbox, C1's call in the hopper, the console."""
    url = f"sqlite:///{tmp_path}/console.db"
    migrate(url)
    engine = make_engine(url)
    seed(engine, NOW)
    for name in ("web1", "web2"):
        create_user(engine, name, PASSWORD, "agent", now=NOW, agent_id=name,
                    queue_interface=f"PJSIP/{name}")  # fmt: skip
    box = asterisk_sandbox
    provisioner = AmiSettings(box.host, box.port, sandbox.PROVISION_USER, box.provision_secret)
    # in a thread: Playwright's sync driver holds this thread's event loop
    provisioning = InThread(
        "provision",
        lambda: provision(engine, box.softphones_conf, key=KEY, realm="cadencia", ami=provisioner),
    )
    provisioning.start()
    done = provisioning.finished(30)
    assert done.agents == ("web1", "web2")
    until(lambda: _endpoint_known(box, "web2"), "res_pjsip to load the agents' endpoints")
    answering_phone(engine, "C1")
    clock = ShiftClock(NOW)
    run_id = create_run(engine, EXAMPLES / "co-tarjetas.toml", NOW.date(), needs_approval=False,
                        now=NOW)  # fmt: skip
    advance(engine, run_id, now=NOW)
    planned, slot_no = c1_planned_call(engine, run_id)
    redis = Redis.from_url(dial_redis_url)
    RedisHopper(redis, run_id, slot_no).fill([(planned, "C1")])
    redis.close()
    namespace = f"cadencia-test-{uuid.uuid4().hex[:10]}"
    settings = DialerSettings(
        database_url=url,
        redis_url=dial_redis_url,
        ami_host=box.host,
        ami_port=box.port,
        ami_username=box.username,
        ami_secret=box.secret,
        channel_template="Local/{last7}@pstn",
        dial_queue=QUEUE,
        dial_variables=TALKING_DEBTOR,
        call_prefix=f"sp{uuid.uuid4().hex[:8]}",
        agent_namespace=namespace,
    )
    slot = DialSlot(run_id, slot_no, NOW, NOW + dt.timedelta(hours=1), time_scale=60.0)
    # The simulated desk phones are away: only the browsers may take C1's call.
    reset_agents(box, ready=0, total=2)
    phone = SoftphoneSettings(box.wss_url, KEY, "cadencia", (QUEUE,), auto_answer=False)
    app = create_web_app(
        engine,
        redis_url=dial_redis_url,
        ami=AmiSettings(box.host, box.port, sandbox.CONSOLE_USER, box.console_secret),
        namespace=namespace,
        clock=clock,
        secure_cookies=False,
        softphone=phone,
    )
    contexts: list[Any] = []
    with LiveServer(app) as server:
        yield {"url": server.url, "box": box, "dial": dial_job(settings, slot, clock),
               "contexts": contexts}  # fmt: skip
        for context in contexts:  # closing a page closes its softphone's WebSocket
            context.close()
    for name in ("web1", "web2"):
        with contextlib.suppress(sandbox.SandboxError):  # "Not there": the page left already
            sandbox.cli_command(box, f"queue remove member PJSIP/{name} from {QUEUE}")
    reset_agents(box, ready=2)
    engine.dispose()


def _endpoint_known(box: sandbox.SandboxState, name: str) -> bool:
    return any(name in line for line in sandbox.cli_command(box, f"pjsip show endpoint {name}"))


def _agent_page(browser: Any, floor: dict[str, Any], name: str) -> Any:
    """An agent's desktop in a context that accepts the sandbox's certificate."""
    context = browser.new_context(
        base_url=floor["url"], ignore_https_errors=True, viewport={"width": 1280, "height": 900}
    )
    floor["contexts"].append(context)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#softphone")
    return page


def _sound_check_and_register(page: Any, box: sandbox.SandboxState, agent: str) -> None:
    """The agent passes the sound check; the page registers; the console adds them, paused."""
    page.wait_for_selector("#sp-check:enabled")  # the script is up
    assert page.is_disabled("#ready")  # no Ready before the headset and the phone work
    page.click("#sp-check")
    page.wait_for_selector("#sp-check-result[data-passed=yes]", timeout=WAIT_MS)
    page.wait_for_selector("#sp-status[data-state=registered]", timeout=WAIT_MS)
    until(lambda: _member_paused(box, agent) is not None, f"{agent} added to {QUEUE}, paused")
    assert page.is_enabled("#ready")


def _contacts(box: sandbox.SandboxState, agent: str) -> set[str]:
    """The agent's registered contacts (``pjsip show contacts``)."""
    lines = sandbox.cli_command(box, "pjsip show contacts")
    return {line.split()[1] for line in lines if line.strip().startswith(f"Contact:  {agent}/")}


def _member_paused(box: sandbox.SandboxState, agent: str) -> str | None:
    try:
        return member_pause(box, agent, QUEUE)
    except AssertionError:
        return None


def _channel_rtp(box: sandbox.SandboxState, agent: str) -> tuple[int, int]:
    """Asterisk's (received, sent) RTP packet counts on the agent's channel.

    A line of ``pjsip show channelstats``: bridge id, channel, up time, codec,
    then received count, lost, lost %, jitter, then sent count, ...
    """
    lines = sandbox.cli_command(box, "pjsip show channelstats")
    for line in lines:
        fields = line.split()
        if len(fields) > 8 and fields[1].startswith(f"{agent}-"):
            return int(fields[4]), int(fields[8])
    raise AssertionError(f"no channel of {agent} in pjsip show channelstats:\n" + "\n".join(lines))


def test_a_dialed_call_reaches_the_browser_with_audio_both_ways(
    media_browser: Any, floor: dict[str, Any]
) -> None:
    box = floor["box"]
    first = _agent_page(media_browser, floor, "web1")
    second = _agent_page(media_browser, floor, "web2")
    _sound_check_and_register(first, box, "web1")
    _sound_check_and_register(second, box, "web2")
    assert "web1/sip:" in "\n".join(sandbox.cli_command(box, "pjsip show contacts"))
    # Agent 1 goes ready; agent 2 stays paused (the call must reach agent 1).
    first.click("#ready")
    first.wait_for_selector("#statebar[data-state=ready]")
    first.wait_for_selector("#sp-status[data-state=registered]", timeout=WAIT_MS)
    until(lambda: _member_paused(box, "web1") is None, "web1 unpaused")

    floor["dial"].start()
    first.wait_for_selector("#sp-call[data-state=ringing]", timeout=WAIT_MS)
    first.click("#sp-answer")
    first.wait_for_selector("#sp-call[data-state=talking]", timeout=WAIT_MS)
    first.wait_for_selector("#pop[data-customer=C1]", timeout=WAIT_MS)
    stats = first.locator("#sp-stats")
    until(lambda: int(stats.get_attribute("data-in") or 0) > 20, "RTP in, on the page", 20)
    until(lambda: int(stats.get_attribute("data-out") or 0) > 20, "RTP out, on the page", 20)
    received, sent = _channel_rtp(box, "web1")
    assert received > 20 and sent > 20, (received, sent)
    page_in, page_out = stats.get_attribute("data-in"), stats.get_attribute("data-out")
    print(f"RTP packets: page in {page_in} out {page_out}; Asterisk rx {received} tx {sent}")
    assert first.get_attribute("#sp-quality", "data-level") in ("good", "fair", "poor")
    assert re.fullmatch(r"00:\d\d", first.inner_text("#sp-timer"))
    # The controls: mute and unmute, a DTMF digit, hold and back.
    first.click("#sp-mute")
    assert first.get_attribute("#sp-mute", "aria-pressed") == "true"
    first.click("#sp-mute")
    first.click(".sp-key[data-tone='5']")
    first.click("#sp-hold")
    first.wait_for_selector("#sp-call[data-state=held]", timeout=WAIT_MS)
    first.click("#sp-hold")
    first.wait_for_selector("#sp-call[data-state=talking]", timeout=WAIT_MS)
    assert second.get_attribute("#sp-call", "data-state") == "idle"

    first.click("#sp-hangup")
    first.wait_for_selector("#sp-call[data-state=idle]", timeout=WAIT_MS)
    report: SessionReport = floor["dial"].finished(90)
    assert dict(report.outcomes) == {"conversation": 1}


def test_a_registration_with_a_wrong_password_is_refused(
    media_browser: Any, floor: dict[str, Any]
) -> None:
    box = floor["box"]
    page = _agent_page(media_browser, floor, "web2")
    page.wait_for_selector("#sp-status[data-state=registered]", timeout=WAIT_MS)
    before = _contacts(box, "web1")
    # Another browser tries agent 1's endpoint with a guessed password, three times.
    codes = page.evaluate(
        """async ([wss, attempts]) => {
          const SIP = await import("/vendor/sip.js/index.js");
          const codes = [];
          for (let i = 0; i < attempts; i++) {
            const ua = new SIP.UserAgent({
              uri: SIP.UserAgent.makeURI("sip:web1@127.0.0.1"),
              transportOptions: { server: wss },
              authorizationUsername: "web1", authorizationPassword: "guess-" + i,
              logLevel: "error",
            });
            await ua.start();
            const code = await new Promise((done) => {
              new SIP.Registerer(ua).register({ requestDelegate: {
                onAccept: () => done(200), onReject: (r) => done(r.message.statusCode) } });
            });
            codes.push(code);
            await ua.stop();
          }
          return codes;
        }""",
        [box.wss_url, 3],
    )
    assert codes == [401, 401, 401] or all(code in (401, 403) for code in codes), codes
    # nobody registered as agent 1: its contacts are those it had before
    assert _contacts(box, "web1") == before
    # Agent 2 logs out: the console takes them out of the queue (QueueRemove).
    until(lambda: _member_paused(box, "web2") is not None, "web2 in the queue, paused")
    page.click("form.logout button")
    page.wait_for_url("**/login")
    until(lambda: _member_paused(box, "web2") is None, "web2 out of the queue")
    assert "web2 (PJSIP/web2)" not in "\n".join(sandbox.cli_command(box, f"queue show {QUEUE}"))
    assert sip_password(KEY, "web1") != sip_password(KEY, "web2")
