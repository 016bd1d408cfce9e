// livepilot console: the moderator page (console.html). This module connects the console
// socket, hands each incoming frame to its part, switches the tabs and starts the page;
// the parts are the other console-*.js modules, their shared state is console-state.js.
import {$} from "./console-dom.js";
import {counts, currentStream, setCurrentStream, setSocket, socket} from "./console-state.js";
import {api, loadMe, token} from "./console-api.js";
import {command, notify, pending} from "./console-commands.js";
import {onDecision, onEvent, onInsight} from "./console-chat.js";
import {openCount, refreshReview} from "./console-review.js";
import {onAlarm, onPrompt} from "./console-alarms.js";
import {refreshPanels} from "./console-questions.js";
import {USER_ACTIONS, refreshWatch, userBurst} from "./console-users.js";
import {SHOW_ACTIONS, onTally, refreshShow} from "./console-show.js";

// command(stream, action, target, args) stays callable from the browser's devtools.
window.command = command;

function handle(msg) {
  switch (msg.type) {
    case "insight": return onInsight(msg);
    case "alarm": return onAlarm(msg);
    case "prompt": return onPrompt(msg);
    case "tally": return onTally(msg);
    case "moderation": return onDecision(msg);
    case "ack": {
      const action = pending.shift();
      if (SHOW_ACTIONS.has(action)) refreshShow();
      if (USER_ACTIONS.has(action)) userBurst();
      return;
    }
    case "error": {
      const action = pending.shift();
      return notify(`${action ? action + " refused: " : ""}${msg.message}`, true);
    }
    default: return onEvent(msg);
  }
}

function selectTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  $("questions-tab").hidden = name !== "questions-tab";
  $("show-tab").hidden = name !== "show-tab";
  $("watch-tab").hidden = name !== "watch-tab";
  $("side").classList.toggle("showing", name === "show-tab");
  localStorage.setItem("livepilot.tab", name);
  if (name === "show-tab") refreshShow();
  if (name === "watch-tab" && currentStream) refreshWatch(`/api/streams/${encodeURIComponent(currentStream)}`);
}
for (const b of document.querySelectorAll(".tabs button")) b.onclick = () => selectTab(b.dataset.tab);
const TABS = ["questions-tab", "show-tab", "watch-tab"];
selectTab(TABS.includes(localStorage.getItem("livepilot.tab")) ? localStorage.getItem("livepilot.tab") : "questions-tab");

function connect(delay) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  setSocket(new WebSocket(`${proto}://${location.host}/ws/console?token=${encodeURIComponent(token)}`));
  socket.onopen = () => { $("conn").textContent = "live"; $("conn").className = "up"; delay = 500; refreshReview(); };
  socket.onmessage = (e) => { for (const msg of JSON.parse(e.data)) handle(msg); };
  socket.onclose = (e) => {
    $("conn").textContent = `offline (${e.code}${e.reason ? ": " + e.reason : ""})`; $("conn").className = "";
    pending.length = 0;  // frames sent on a closed socket get no answer
    if (e.code === 1008) return;  // bad token: retrying will not help
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}
setInterval(() => { $("stats").textContent = `${counts.events} events · ${counts.flagged} flagged · ${openCount()} to review`; }, 500);
async function start() {
  await loadMe();
  const streams = await api("/api/streams");
  if (!currentStream && streams && streams.length) { setCurrentStream(streams[0].stream); refreshPanels(); refreshShow(); refreshReview(); }
  connect(500);
}
start();
