// livepilot console: alarms and host prompts.
import {$, esc, put} from "./console-dom.js";
import {MAX_ROWS} from "./console-state.js";
import {command} from "./console-commands.js";
import {SHOW_ALARMS, refreshShow} from "./console-show.js";
import {localise, t, word} from "./console-i18n.js";

function updateEmpty() { put($("host-empty"), "hidden", !!($("alarms").childElementCount + $("prompts").childElementCount)); }

const alarms = new Map();  // alarm id -> {el, alarm}
export function onAlarm(a) {
  let entry = alarms.get(a.id);
  if (!entry) {
    entry = {el: document.createElement("div"), alarm: a}; alarms.set(a.id, entry); $("alarms").prepend(entry.el);
    if (alarms.size > MAX_ROWS) { const [old, e] = alarms.entries().next().value; e.el.remove(); alarms.delete(old); }
  }
  entry.alarm = a;
  renderAlarm(entry);
  updateEmpty();
  if (SHOW_ALARMS.has(a.kind)) refreshShow();
}
function renderAlarm({el, alarm: a}) {
  el.className = "alarm" + (a.state === "cleared" ? " cleared" : "");
  el.innerHTML = `<b>${esc(word("alarm.", a.kind))}</b> ${esc(word("alarm_state.", a.state))} — ${esc(localise(a))}`;
}

const prompts = new Map();  // prompt id -> {el, prompt}
export function onPrompt(p) {
  let entry = prompts.get(p.id);
  if (!entry) {
    const el = document.createElement("div"); el.className = "prompt";
    entry = {el, prompt: p}; prompts.set(p.id, entry); $("prompts").prepend(el);
  }
  entry.prompt = p;
  renderPrompt(entry);
  expirePrompts();
}
function renderPrompt({el, prompt: p}) {
  el.innerHTML = `<span class="ptext">🎤 ${esc(localise(p))}</span><button data-act="ack_prompt">${esc(t("prompt.done"))}</button><button data-act="dismiss_prompt">${esc(t("prompt.dismiss"))}</button>`;
  for (const b of el.querySelectorAll("button")) b.onclick = () => command(p.stream, b.dataset.act, p.id);
}
function expirePrompts() {
  const now = Date.now() / 1000;
  for (const [id, entry] of prompts) {
    if (entry.prompt.expires_at != null && entry.prompt.expires_at <= now) { entry.el.remove(); prompts.delete(id); }
  }
  updateEmpty();
}
setInterval(expirePrompts, 1000);
document.addEventListener("langchange", () => {
  for (const e of alarms.values()) renderAlarm(e);
  for (const e of prompts.values()) renderPrompt(e);
});
