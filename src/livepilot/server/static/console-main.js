// livepilot console: the moderator page (console.html). This module loads the page's
// words, connects the console socket, hands each incoming frame to its part, switches the
// tabs, the stream and the language, and starts the page; the parts are the other
// console-*.js modules, their shared state is console-state.js.
import {$, esc} from "./console-dom.js";
import {currentStream, onStreamChange, setCurrentStream, setSocket, socket} from "./console-state.js";
import {api, loadMe, token} from "./console-api.js";
import {command, notify, pending} from "./console-commands.js";
import {onDecision, onEvent, onInsight} from "./console-chat.js";
import {refreshReview} from "./console-review.js";
import {onAlarm, onPrompt} from "./console-alarms.js";
import {refreshPanels} from "./console-questions.js";
import {USER_ACTIONS, refreshWatch, userBurst} from "./console-users.js";
import {SHOW_ACTIONS, onTally, refreshShow} from "./console-show.js";
import {hello, onPresenceFrame} from "./console-presence.js";
import {currentLang, preferredLang, setLang, t, word} from "./console-i18n.js";
import {render as renderPulse} from "./console-pulse.js";
import {auditClosed, auditOpened, auditSoon} from "./console-audit.js";
import "./console-keys.js";

// command(stream, action, target, args) stays callable from the browser's devtools.
window.command = command;

// -- resume: the server run and, per stream, the newest seq applied ----------------------
// (docs/wire-format.md). A reconnect names them and gets what it missed (or a snapshot).
// The opening after the hello runs up to each stream's `head`; its messages carry the seq
// of their newest update, so they are not in seq order and are all taken (what the page
// already shows is skipped by message id in console-chat.js). After it, a message at or
// below the newest seq applied is a repeat and skipped.
let epoch = null;
const seqs = new Map();      // stream -> newest seq applied
const opening = new Map();   // stream -> head of the opening still arriving
function fresh(msg) {
  if (typeof msg.seq !== "number" || !msg.stream) return true;
  const head = opening.get(msg.stream);
  if (head !== undefined) {
    if (msg.seq <= head) return true;
    opening.delete(msg.stream);
  }
  if (msg.seq <= (seqs.get(msg.stream) || 0)) return false;
  seqs.set(msg.stream, msg.seq);
  return true;
}
function onHello(msg) {
  if (msg.epoch !== epoch) seqs.clear();
  epoch = msg.epoch;
  const streams = msg.streams && typeof msg.streams === "object" ? msg.streams : {};
  for (const [name, info] of Object.entries(streams)) {
    const head = info && typeof info.head === "number" ? info.head : 0;
    opening.set(name, head);
    seqs.set(name, Math.max(head, info && info.mode === "snapshot" ? 0 : seqs.get(name) || 0));
  }
  addStreams(Object.keys(streams));
}
function resumeQuery() {
  if (!epoch || !seqs.size) return "";
  const since = [...seqs].map(([name, seq]) => `${encodeURIComponent(name)}:${seq}`).join(",");
  return `&epoch=${encodeURIComponent(epoch)}&since=${since}`;
}

function handle(msg) {
  if (!fresh(msg)) return;
  switch (msg.type) {
    case "hello": return onHello(msg);
    case "insight": return onInsight(msg);
    case "alarm": return onAlarm(msg);
    case "prompt": return onPrompt(msg);
    case "tally": return onTally(msg);
    case "moderation": auditSoon(msg); return onDecision(msg);
    case "presence": return onPresenceFrame(msg);
    case "presence_refused": return notify(msg.message, true);
    case "ack": {
      const action = pending.shift();
      if (SHOW_ACTIONS.has(action)) refreshShow();
      if (USER_ACTIONS.has(action)) userBurst();
      auditSoon();
      return;
    }
    case "error": {
      const action = pending.shift();
      return notify(action ? t("toast.refused", {action: word("act.", action), message: msg.message}) : msg.message, true);
    }
    default: return onEvent(msg);
  }
}

// -- tabs --------------------------------------------------------------------------------
const TABS = ["questions-tab", "show-tab", "watch-tab", "audit-tab"];
function selectTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const tab of TABS) $(tab).hidden = name !== tab;
  localStorage.setItem("livepilot.tab", name);
  if (name === "show-tab") refreshShow();
  if (name === "watch-tab" && currentStream) refreshWatch(`/api/streams/${encodeURIComponent(currentStream)}`);
  if (name === "audit-tab") auditOpened(); else auditClosed();
}
for (const b of document.querySelectorAll(".tabs button")) b.onclick = () => selectTab(b.dataset.tab);
selectTab(TABS.includes(localStorage.getItem("livepilot.tab")) ? localStorage.getItem("livepilot.tab") : "questions-tab");

// -- streams: a picker once more than one runs ------------------------------------------
const known = new Set();
function addStreams(names) {
  let grew = false;
  for (const n of names) if (n && !known.has(n)) { known.add(n); grew = true; }
  if (!grew) return;
  const pick = $("stream-pick");
  pick.innerHTML = [...known].sort().map(n => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
  pick.value = currentStream || "";
  pick.hidden = known.size < 2;
}
$("stream-pick").onchange = () => setCurrentStream($("stream-pick").value);
onStreamChange((s) => {
  addStreams([s]);
  $("stream-pick").value = s;
  refreshPanels(); refreshShow(); refreshReview();
});
setInterval(async () => {
  const streams = await api("/api/streams");
  if (streams) addStreams(streams.map(s => s.stream));
}, 10000);

// -- language ----------------------------------------------------------------------------
$("lang-pick").onchange = () => setLang($("lang-pick").value, true).catch(e => notify(String(e), true));
document.addEventListener("langchange", () => {
  $("lang-pick").value = currentLang();
  connState();
});

// -- the socket ----------------------------------------------------------------------------
let closed = null;   // the last close event, while offline
function connState() {
  const up = socket && socket.readyState === 1;
  $("conn").className = up ? "up" : "";
  $("conn").textContent = up ? t("conn.live") : closed ? t("conn.offline_code", {code: closed.code, reason: closed.reason ? ": " + closed.reason : ""}) : t("conn.offline");
}

function connect(delay) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  setSocket(new WebSocket(`${proto}://${location.host}/ws/console?token=${encodeURIComponent(token)}${resumeQuery()}`));
  socket.onopen = () => { closed = null; connState(); delay = 500; hello(); refreshReview(); };
  socket.onmessage = (e) => { for (const msg of JSON.parse(e.data)) handle(msg); };
  socket.onclose = (e) => {
    closed = e; connState();
    pending.length = 0;  // frames sent on a closed socket get no answer
    if (e.code === 1008) return;  // bad token: retrying will not help
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}
document.addEventListener("namechange", () => hello());

async function start() {
  try { await setLang(preferredLang()); } catch (e) { console.error("livepilot:", e); }
  document.body.classList.remove("loading");
  await loadMe();
  const streams = await api("/api/streams");
  if (streams && streams.length) {
    addStreams(streams.map(s => s.stream));
    if (!currentStream) setCurrentStream(streams[0].stream);
  }
  renderPulse();
  connect(500);
}
start();
