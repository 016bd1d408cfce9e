// livepilot console: alarms and host prompts.
import {$, esc} from "./console-dom.js";
import {MAX_ROWS, trim} from "./console-state.js";
import {command} from "./console-commands.js";
import {SHOW_ALARMS, refreshShow} from "./console-show.js";

const alarms = new Map();  // alarm id -> element
export function onAlarm(a) {
  let el = alarms.get(a.id);
  if (!el) { el = document.createElement("div"); alarms.set(a.id, el); $("alarms").prepend(el); trim($("alarms")); }
  el.className = "alarm" + (a.state === "cleared" ? " cleared" : "");
  el.innerHTML = `<b>${esc(a.kind)}</b> ${esc(a.state)} — ${esc(a.message)}`;
  if (alarms.size > MAX_ROWS) alarms.delete(alarms.keys().next().value);
  if (SHOW_ALARMS.has(a.kind)) refreshShow();
}

const prompts = new Map();  // prompt id -> {el, prompt}
export function onPrompt(p) {
  let entry = prompts.get(p.id);
  if (!entry) {
    const el = document.createElement("div"); el.className = "prompt";
    entry = {el, prompt: p}; prompts.set(p.id, entry); $("prompts").prepend(el);
  }
  entry.prompt = p;
  entry.el.innerHTML = `🎤 ${esc(p.text)} <button data-act="ack_prompt">done</button> <button data-act="dismiss_prompt">dismiss</button>`;
  for (const b of entry.el.querySelectorAll("button")) b.onclick = () => command(p.stream, b.dataset.act, p.id);
  expirePrompts();
}
function expirePrompts() {
  const now = Date.now() / 1000;
  for (const [id, entry] of prompts) {
    if (entry.prompt.expires_at != null && entry.prompt.expires_at <= now) { entry.el.remove(); prompts.delete(id); }
  }
}
setInterval(expirePrompts, 1000);
