"""Recordings for the SIPp carrier: people saying hello and voicemail greetings.

Answering-machine detection (Asterisk's ``AMD()``) judges the first seconds of
audio after the answer: how long the first words last, how many there are,
how long the silence after them is. To test it on audio rather than on the
dialplan's tones, this module makes recordings with ``espeak-ng`` (several
Spanish and English voices, speeds and pitches) and ``sox`` (8 kHz mono,
several speech levels, pink background noise at several levels), laid out as
a call sounds from the far end:

* a **person**: 0.2-1.0 s after the answer a short hello ("¿Aló? ¿Sí?",
  "Hello?", "¿Bueno?"), then silence; some say a few more words 2.5-4 s
  later ("¿Aló? ¿Quién habla?"), as people do when nobody answers them;
* a **machine**: 0.2-0.8 s after the answer a voicemail greeting of 5-15 s,
  a beep, then silence.

Every recording is 20 s long (``LENGTH_S``) and ends in silence with noise,
so the RTP stream never stops before Asterisk has decided. Each is written as
raw G.711 u-law (``.ulaw``: what SIPp's ``rtp_stream`` sends as payload 0,
byte for byte; a WAV header would be sent as audio) with a catalogue
(``catalogue.json``) that records, per recording, its class and the offset at
which the person's hello ends, which the bench needs for the 2-second rule.

Made once per (recipe, seed, count) and cached under
``/var/cache/cadencia/amd-voices`` (``$CADENCIA_SANDBOX_DIR``).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from sandbox import asterisk as sandbox

RECIPE_VERSION = 1
LENGTH_S = 20.0
RATE = 8000
PERSON = "person"
MACHINE = "machine"

HELLOS = (
    ("es", "¿Aló? ¿Sí?"),
    ("es", "¿Aló?"),
    ("es-419", "¿Bueno?"),
    ("es-419", "¿Sí, diga?"),
    ("es", "¿Sí?"),
    ("en-us", "Hello?"),
    ("en", "Hello?"),
    ("en-us", "Hi, yes?"),
)
# what a person adds when nobody speaks: a few words, seconds later
AFTERTHOUGHTS = {
    "es": ("¿Aló? ¿Quién habla?", "¿Hola?", "¿Sí? ¿Aló?"),
    "es-419": ("¿Bueno? ¿Quién es?", "¿Hola?"),
    "en-us": ("Hello? Who is this?", "Hello?"),
    "en": ("Hello? Anyone there?", "Hello?"),
}
GREETINGS = (
    ("es", "Hola, has llamado a María. En este momento no puedo atenderte. "
     "Deja tu mensaje después del tono y te llamo en cuanto pueda."),
    ("es-419", "El número que usted marcó no está disponible en este momento. "
     "Por favor deje su mensaje después del tono."),
    ("es", "Buenos días, ha llamado a la oficina de Carlos Pérez. No estamos disponibles. "
     "Deje su nombre, su número y el motivo de su llamada, y le devolveremos la llamada."),
    ("es-419", "Hola, soy Juan. Ahorita no puedo contestar. Mándame un mensaje o deja tu "
     "recado. Gracias."),
    ("en-us", "Hi, you've reached Sarah. I can't come to the phone right now. "
     "Please leave a message after the tone and I'll get back to you."),
    ("en", "The person you are calling is not available. Please leave your message "
     "after the tone. When you have finished recording, you may hang up."),
    ("en-us", "Hello, this is Mike. Sorry I missed your call. Leave your name and number "
     "and I'll call you back as soon as I can. Thanks."),
    ("en", "Thank you for calling. Nobody is available to take your call at the moment. "
     "Please leave a short message and we will return your call."),
)  # fmt: skip
VARIANTS = ("m1", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5")


class VoicesError(RuntimeError):
    """A recording could not be made; the message names the tool and the step."""


@dataclass(frozen=True)
class Recording:
    """One recording the carrier can play: its class, file and timing."""

    index: int
    kind: str  # PERSON or MACHINE
    path: str  # raw u-law, 8 kHz mono
    text: str
    voice: str
    speech_s: float  # the hello's or the greeting's length
    speech_end_s: float  # offset of the end of the FIRST utterance (the hello)
    level_db: float  # speech peak, dBFS
    noise_db: float  # background noise, dBFS


def cache_dir() -> Path:
    """Where recordings are cached: ``$CADENCIA_SANDBOX_DIR/amd-voices``."""
    return sandbox.sandbox_dir() / "amd-voices"


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-600:]
        raise VoicesError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _duration(path: Path) -> float:
    return float(_run(["soxi", "-D", str(path)], f"reading the length of {path}").strip())


def _speak(text: str, voice: str, speed: int, pitch: int, level_db: float, out: Path) -> float:
    """``text`` spoken at 8 kHz, silence trimmed at both ends, peak at ``level_db``."""
    raw = out.with_suffix(".espeak.wav")
    _run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
         f"espeak-ng ({voice})")  # fmt: skip
    trim = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
    _run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out), *trim,
          "gain", "-n", f"{level_db:.1f}"], "sox (resampling the speech)")  # fmt: skip
    raw.unlink()
    return _duration(out)


def _silence(seconds: float, out: Path) -> None:
    _run(["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(out), "trim", "0",
          f"{max(seconds, 0.001):.3f}"], "sox (silence)")  # fmt: skip


def _beep(out: Path) -> None:
    _run(["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(out), "synth", "0.5",
          "sine", "1000", "gain", "-6"], "sox (beep)")  # fmt: skip


def _finish(parts: list[Path], noise_db: float, out: Path, work: Path) -> None:
    """Concatenate ``parts``, pad to LENGTH_S, mix in pink noise, write raw u-law."""
    joined = work / "joined.wav"
    _run(["sox", *map(str, parts), str(joined), "pad", "0", f"{LENGTH_S}", "trim", "0",
          f"{LENGTH_S}"], "sox (joining)")  # fmt: skip
    noise = work / "noise.wav"
    _run(["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(noise), "synth",
          f"{LENGTH_S}", "pinknoise", "gain", "-n", f"{noise_db:.1f}"], "sox (noise)")  # fmt: skip
    _run(["sox", "-m", str(joined), str(noise), "-t", "ul", "-r", str(RATE), "-c", "1",
          str(out)], "sox (mixing, u-law)")  # fmt: skip


def _voice(rng: random.Random, lang: str) -> str:
    return f"{lang}+{rng.choice(VARIANTS)}"


def _person(index: int, rng: random.Random, out: Path, work: Path) -> Recording:
    lang, text = HELLOS[index % len(HELLOS)]
    voice, level = _voice(rng, lang), rng.uniform(-14.0, -2.0)
    lead = rng.uniform(0.2, 1.0)
    _silence(lead, work / "lead.wav")
    hello = _speak(text, voice, rng.randint(140, 200), rng.randint(30, 70), level,
                   work / "hello.wav")  # fmt: skip
    parts = [work / "lead.wav", work / "hello.wav"]
    spoken = text
    if rng.random() < 0.5:  # a few more words when nobody answers
        more = rng.choice(AFTERTHOUGHTS[lang])
        _silence(rng.uniform(2.5, 4.0), work / "gap.wav")
        _speak(more, voice, rng.randint(140, 200), rng.randint(30, 70), level, work / "more.wav")
        parts += [work / "gap.wav", work / "more.wav"]
        spoken = f"{text} … {more}"
    noise = rng.uniform(-62.0, -46.0)
    _finish(parts, noise, out, work)
    return Recording(index, PERSON, str(out), spoken, voice, round(hello, 3),
                     round(lead + hello, 3), round(level, 1), round(noise, 1))  # fmt: skip


def _machine(index: int, rng: random.Random, out: Path, work: Path) -> Recording:
    lang, text = GREETINGS[index % len(GREETINGS)]
    voice, level = _voice(rng, lang), rng.uniform(-14.0, -2.0)
    lead = rng.uniform(0.2, 0.8)
    _silence(lead, work / "lead.wav")
    greeting = _speak(text, voice, rng.randint(150, 210), rng.randint(30, 70), level,
                      work / "greeting.wav")  # fmt: skip
    _silence(0.4, work / "pause.wav")
    _beep(work / "beep.wav")
    noise = rng.uniform(-62.0, -46.0)
    parts = [work / "lead.wav", work / "greeting.wav", work / "pause.wav", work / "beep.wav"]
    _finish(parts, noise, out, work)
    return Recording(index, MACHINE, str(out), text, voice, round(greeting, 3),
                     round(lead + greeting, 3), round(level, 1), round(noise, 1))  # fmt: skip


def tools_missing() -> str | None:
    """The first of espeak-ng, sox, soxi that is not installed, or None."""
    for tool in ("espeak-ng", "sox", "soxi"):
        if shutil.which(tool) is None:
            return tool
    return None


def ensure(per_class: int, seed: int = 1, base: Path | None = None) -> list[Recording]:
    """``per_class`` person and ``per_class`` machine recordings, made once and cached.

    Indexes 0..per_class-1 are people, per_class..2*per_class-1 machines.
    """
    missing = tools_missing()
    if missing:
        raise VoicesError(f"the {missing} command is missing (Debian: espeak-ng, sox)")
    folder = (base or cache_dir()) / f"v{RECIPE_VERSION}-seed{seed}-n{per_class}"
    catalogue = folder / "catalogue.json"
    if catalogue.is_file():
        return [Recording(**r) for r in json.loads(catalogue.read_text())]
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    rng = random.Random(seed)
    made: list[Recording] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2 * per_class):
            make = _person if i < per_class else _machine
            rec = make(i, rng, building / f"{i:04d}.ulaw", Path(tmp))
            made.append(rec)
    final = [Recording(**{**asdict(r), "path": str(folder / Path(r.path).name)}) for r in made]
    (building / "catalogue.json").write_text(json.dumps([asdict(r) for r in final], indent=1))
    building.chmod(0o755)
    try:
        building.rename(folder)
    except OSError:  # another process made the same set meanwhile
        shutil.rmtree(building, ignore_errors=True)
    return [Recording(**r) for r in json.loads(catalogue.read_text())]
