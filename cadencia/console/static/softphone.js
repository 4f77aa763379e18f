// The agent's WebRTC softphone (docs/softphone.md): SIP.js over the PBX's
// secure WebSocket, media over DTLS-SRTP. The console hands this page the
// agent's SIP credentials (/agent/softphone/config); once registered the
// console adds the agent to the queues, paused. Ready stays disabled until
// the sound check passed and the softphone is registered.
import { Web } from "/vendor/sip.js/index.js";

const root = document.getElementById("softphone");
const $ = (id) => document.getElementById(id);
const CHECKED = "cadencia-softphone-check";
const t = (key) => root.dataset["t" + key[0].toUpperCase() + key.slice(1)] || key;
let user = null;
let registered = false;
let timer = null;
let statsTimer = null;

function status(state, text) {
  const el = $("sp-status");
  el.dataset.state = state;
  el.textContent = text;
  root.dataset.state = state;
}

function callState(state) {
  $("sp-call").dataset.state = state;
  const live = state === "talking" || state === "held";
  $("sp-answer").disabled = state !== "ringing";
  $("sp-hangup").disabled = state === "idle";
  $("sp-mute").disabled = !live;
  $("sp-hold").disabled = !live;
  document.querySelectorAll(".sp-key").forEach((key) => { key.disabled = !live; });
}

// Ready only once the headset works and calls can reach the agent.
function gateReady() {
  const ready = document.getElementById("ready");
  if (!ready) return;
  const ok = registered && sessionStorage.getItem(CHECKED) === "passed";
  ready.disabled = !ok;
  ready.title = ok ? "" : t("first");
}

async function post(path) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin", headers: { "x-csrf-token": root.dataset.csrf },
  });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
}

// Sound check: the microphone's level over two seconds must rise above the
// noise floor; the meter shows it live. Passed once per browser session.
async function soundCheck() {
  const result = $("sp-check-result");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  } catch (err) {
    result.dataset.passed = "failed";
    result.textContent = t("blocked");
    return;
  }
  const audio = new AudioContext();
  await audio.resume();
  const analyser = audio.createAnalyser();
  analyser.fftSize = 1024;
  const source = audio.createMediaStreamSource(stream);
  source.connect(analyser);
  // loopback: the agent hears their own microphone during the check
  source.connect(audio.destination);
  const samples = new Float32Array(analyser.fftSize);
  let peak = 0;
  const started = performance.now();
  await new Promise((done) => {
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      const rms = Math.sqrt(samples.reduce((sum, v) => sum + v * v, 0) / samples.length);
      peak = Math.max(peak, rms);
      $("sp-level").value = Math.min(1, rms * 4);
      if (performance.now() - started < 2000) requestAnimationFrame(tick); else done();
    };
    tick();
  });
  stream.getTracks().forEach((track) => track.stop());
  await audio.close();
  const passed = peak > 0.01;
  sessionStorage.setItem(CHECKED, passed ? "passed" : "failed");
  result.dataset.passed = passed ? "yes" : "failed";
  result.dataset.peak = peak.toFixed(4);
  result.textContent = passed ? t("passed") : t("silent");
  gateReady();
}

// A ring in the headset while a call waits (two 425 Hz bursts every 3 s).
let ringer = null;
function ring(on) {
  if (ringer) { clearInterval(ringer.timer); ringer.audio.close(); ringer = null; }
  if (!on) return;
  try {
    const audio = new AudioContext();
    const burst = () => {
      for (const at of [0, 0.5]) {
        const tone = audio.createOscillator();
        const gain = audio.createGain();
        gain.gain.value = 0.1;
        tone.frequency.value = 425;
        tone.connect(gain).connect(audio.destination);
        tone.start(audio.currentTime + at);
        tone.stop(audio.currentTime + at + 0.4);
      }
    };
    burst();
    ringer = { audio, timer: setInterval(burst, 3000) };
  } catch (err) {
    ringer = null; // no audio output: the page still shows the call
  }
}

function startTimer() {
  const began = Date.now();
  const show = () => {
    const s = Math.floor((Date.now() - began) / 1000);
    $("sp-timer").textContent = `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  };
  show();
  timer = setInterval(show, 1000);
}

// Network quality from getStats: loss and jitter of what we receive.
async function sampleStats() {
  const session = user && user.session;
  const pc = session && session.sessionDescriptionHandler && session.sessionDescriptionHandler.peerConnection;
  if (!pc) return;
  const report = await pc.getStats();
  const out = $("sp-stats");
  report.forEach((stat) => {
    if (stat.type === "inbound-rtp" && stat.kind === "audio") {
      const lost = stat.packetsLost || 0;
      const got = stat.packetsReceived || 0;
      const loss = got + lost > 0 ? (100 * lost) / (got + lost) : 0;
      out.dataset.in = got;
      out.dataset.loss = loss.toFixed(1);
      out.dataset.jitter = Math.round((stat.jitter || 0) * 1000);
    } else if (stat.type === "outbound-rtp" && stat.kind === "audio") {
      out.dataset.out = stat.packetsSent || 0;
    }
  });
  const loss = Number(out.dataset.loss), jitter = Number(out.dataset.jitter);
  const level = loss < 1 && jitter < 30 ? "good" : loss < 5 && jitter < 60 ? "fair" : "poor";
  const q = $("sp-quality");
  q.dataset.level = level;
  q.textContent = `${level} · ${out.dataset.loss}% · ${out.dataset.jitter} ms`;
}

function callEnded() {
  ring(false);
  clearInterval(timer);
  clearInterval(statsTimer);
  callState("idle");
  $("sp-peer").textContent = "";
  $("sp-mute").setAttribute("aria-pressed", "false");
  $("sp-hold").setAttribute("aria-pressed", "false");
}

async function register(config) {
  status("connecting", t("connecting"));
  user = new Web.SimpleUser(config.wss, {
    aor: config.uri,
    media: { constraints: { audio: true, video: false }, remote: { audio: $("sp-remote") } },
    sendDTMFUsingSessionDescriptionHandler: true,
    userAgentOptions: {
      authorizationUsername: config.username,
      authorizationPassword: config.password,
      displayName: config.display,
      logLevel: "warn",
      // Media stays between the browser and Asterisk: no public STUN server.
      sessionDescriptionHandlerFactoryOptions: {
        peerConnectionConfiguration: { iceServers: [] }, iceGatheringTimeout: 1000,
      },
    },
    delegate: {
      onCallReceived: () => {
        callState("ringing");
        $("sp-peer").textContent = t("ringing");
        if ($("sp-auto").checked) user.answer(); else ring(true);
      },
      onCallAnswered: () => {
        ring(false);
        callState("talking");
        $("sp-peer").textContent = t("talking");
        startTimer();
        statsTimer = setInterval(sampleStats, 1000);
      },
      onCallHangup: callEnded,
      onServerDisconnect: () => { registered = false; status("failed", t("disconnected")); gateReady(); },
    },
  });
  await user.connect();
  await user.register({
    requestDelegate: {
      onAccept: async () => {
        registered = true;
        status("registered", t("registered"));
        gateReady();
        await post("/agent/softphone/online");
      },
      onReject: (response) => {
        registered = false;
        const code = response.message.statusCode;
        status("failed", `${t("refused")} (${code})`);
        $("sp-status").dataset.code = code;
        gateReady();
      },
    },
  });
}

async function main() {
  callState("idle");
  gateReady();
  if (sessionStorage.getItem(CHECKED) === "passed") {
    $("sp-check-result").dataset.passed = "yes";
    $("sp-check-result").textContent = t("passed");
  }
  $("sp-check").addEventListener("click", soundCheck);
  $("sp-check").disabled = false;
  const config = await (await fetch("/agent/softphone/config", { credentials: "same-origin" })).json();
  const auto = localStorage.getItem("cadencia-softphone-auto");
  $("sp-auto").checked = auto === null ? Boolean(config.auto_answer) : auto === "yes";
  $("sp-auto").addEventListener("change", (e) => localStorage.setItem("cadencia-softphone-auto", e.target.checked ? "yes" : "no"));
  $("sp-answer").addEventListener("click", () => user.answer());
  $("sp-hangup").addEventListener("click", () => ($("sp-call").dataset.state === "ringing" ? user.decline() : user.hangup()));
  $("sp-mute").addEventListener("click", (e) => {
    const on = !user.isMuted();
    if (on) user.mute(); else user.unmute();
    e.target.setAttribute("aria-pressed", String(on));
  });
  $("sp-hold").addEventListener("click", async (e) => {
    const on = !user.isHeld();
    await (on ? user.hold() : user.unhold());
    callState(on ? "held" : "talking");
    e.target.setAttribute("aria-pressed", String(on));
  });
  document.querySelectorAll(".sp-key").forEach((key) => key.addEventListener("click", () => user.sendDTMF(key.dataset.tone)));
  await register(config);
}

if (root) main().catch((err) => status("failed", `${t("refused")}: ${err.message}`));
