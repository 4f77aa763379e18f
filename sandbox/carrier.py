"""SIPp as the phone carrier: outbound calls answered with recorded audio.

The sandbox's usual phone network is dialplan (``[pstn]`` in the test
overlay), where AMD is fed tones. In *carrier mode* the sandbox's ``carrier``
PJSIP endpoint (the production trunk template, ``docker/asterisk/pjsip.conf``)
points at a SIPp process on 127.0.0.1 instead of the discard port, so a call
originated on the production channel ``PJSIP/{e164}@carrier`` leaves
Asterisk as a real SIP INVITE; SIPp rings for ``ring_ms``, answers with
G.711 u-law SDP and streams one of the recordings of ``sandbox.voices`` over
RTP (``rtp_stream``, SIPp 3.6.1), then waits for Asterisk's BYE.

Which recording a call gets is chosen by the dialed number:
``+7<class><index:05d>`` (class 1 a person, 2 a machine), so whoever dials
knows the truth per call (``number_for``). The scenario XML is generated: one
``<ereg>`` per recording on the INVITE's request line and one branch per
recording, because ``rtp_stream`` takes its file name at scenario load.

SIPp is Debian's ``sip-tester`` package; ``ensure_tools`` installs it with
``espeak-ng`` and ``sox`` when they are missing (as root, with apt).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from sandbox.voices import PERSON, Recording

# Debian's package for each command the carrier mode needs
PACKAGES = {"sipp": "sip-tester", "espeak-ng": "espeak-ng", "sox": "sox", "soxi": "sox"}


class CarrierError(RuntimeError):
    """The SIPp carrier cannot be installed or started; the message says why."""


def number_for(recording: Recording) -> str:
    """The E.164 number that makes the carrier answer with ``recording``."""
    cls = "1" if recording.kind == PERSON else "2"
    return f"+7{cls}{recording.index:05d}"


def tools_missing() -> list[str]:
    """The commands of ``PACKAGES`` that are not installed."""
    return [tool for tool in PACKAGES if shutil.which(tool) is None]


def ensure_tools() -> None:
    """Install sip-tester, espeak-ng and sox with apt when any command is missing.

    Raises CarrierError naming the missing commands when they cannot be
    installed (not root, no apt-get, the install failed).
    """
    missing = tools_missing()
    if not missing:
        return
    packages = sorted({PACKAGES[tool] for tool in missing})
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise CarrierError(
            f"{', '.join(missing)} missing; install Debian's {' '.join(packages)} (needs root)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-q", "-o", "Acquire::Check-Valid-Until=false"]
    for step in (["update"], ["install", "-y", "--no-install-recommends", *packages]):
        proc = subprocess.run([*apt, *step], capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip()[-600:]
            raise CarrierError(f"apt-get {' '.join(step)} failed for {missing}:\n{tail}")
    if tools_missing():
        raise CarrierError(f"still missing after apt-get install: {', '.join(tools_missing())}")


_RESPONSE_HEAD = """
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>"""

_ANSWER = f"""
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing{_RESPONSE_HEAD}
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="{{ring_ms}}"/>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK{_RESPONSE_HEAD}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
"""

_HANGUP = """
  <label id="wait_bye"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <timewait milliseconds="2000"/>
"""


def _request_line(recording: Recording) -> str:
    """A POSIX regex for the INVITE's request line to this recording's number."""
    return f"^INVITE sip:[+]?{number_for(recording)[1:]}@"


def scenario_xml(recordings: Sequence[Recording], ring_ms: int = 1000) -> str:
    """SIPp's UAS scenario: ring, answer, stream the dialed number's recording."""
    match = "\n".join(
        f"      <ereg regexp={quoteattr(_request_line(r))} "
        f'search_in="msg" check_it="false" assign_to="r{r.index}"/>'
        for r in recordings
    )
    choose = "\n".join(f'  <nop next="play{r.index}" test="r{r.index}"/>' for r in recordings)
    # an unknown number answers and says nothing
    plays = "\n".join(
        f'  <label id="play{r.index}"/>\n'
        f'  <nop next="wait_bye"><action><exec rtp_stream="{r.path},1,0"/></action></nop>'
        for r in recordings
    )
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<scenario name="cadencia carrier">\n'
        '  <recv request="INVITE" crlf="true">\n    <action>\n'
        f"{match}\n    </action>\n  </recv>\n"
        f"{_ANSWER.format(ring_ms=ring_ms)}\n{choose}\n"
        '  <nop next="wait_bye"/>\n'
        f"{plays}\n{_HANGUP}</scenario>\n"
    )


@dataclass(frozen=True)
class Carrier:
    """A running SIPp carrier: its SIP port (the trunk's contact) and its log."""

    port: int
    media_port: int
    pid: int
    workdir: str

    @property
    def errors(self) -> str:
        """SIPp's log of unexpected messages (-trace_err), for a failing test."""
        found = sorted(Path(self.workdir).glob("*_errors.log"))
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in found)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _udp_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def running(
    recordings: Sequence[Recording], ring_ms: int = 1000, timeout: float = 15.0
) -> Iterator[Carrier]:
    """SIPp answering on a free 127.0.0.1 port for the block; killed afterwards."""
    ensure_tools()
    with tempfile.TemporaryDirectory(prefix="cadencia-carrier-") as tmp:
        scenario = Path(tmp) / "carrier.xml"
        scenario.write_text(scenario_xml(recordings, ring_ms))
        port, media = _free_udp_port(), _free_udp_port()
        cmd = ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
               "-mi", "127.0.0.1", "-mp", str(media), "-nostdin", "-trace_err",
               "-rtp_threadtasks", "4"]  # fmt: skip
        # stderr to a file: a pipe nobody reads would block SIPp once full
        stderr = Path(tmp) / "sipp.stderr"
        with stderr.open("wb") as err_file:
            proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err_file)  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not _udp_taken(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = stderr.read_text(errors="replace")[-1500:]
                    raise CarrierError(f"SIPp did not start on 127.0.0.1:{port}: {err}")
                time.sleep(0.05)
            yield Carrier(port, media, proc.pid, tmp)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
