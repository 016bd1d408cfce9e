// livepilot console: the review queue. Every message a stage flagged (toxic, spam) or held
// is an open item until a moderator decides on it. The moderation stage applies the
// decision and publishes it ("moderation" messages) to every console at once: the item
// leaves the open list for the handled list, which says who decided, from which state to
// which. A console that connects late (or reconnects) reads the queue as it stands from
// GET /api/streams/{stream}/review, then follows the live decisions.
import {$, esc, oneAtATime} from "./console-dom.js";
import {currentStream} from "./console-state.js";
import {api} from "./console-api.js";
import {command} from "./console-commands.js";

const MAX_OPEN = 300;      // open items this page keeps (the stage keeps its own, larger queue)
const MAX_HANDLED = 30;    // handled items shown, greyed, newest decision first
const items = new Map();   // event id -> item
let serverOpen = null;     // the stage's open count when it is more than this page holds

const DONE = {hide: "hidden", approve: "approved", unhide: "unhidden", hold: "held"};

// -- what changes the queue -------------------------------------------------------------

function item(id, stream) {
  let it = items.get(id);
  if (!it) {
    it = {id, stream, user: null, text: "", flags: [], reasons: [], state: "visible", open: false,
          at: 0, since: 0, by: "", reason: "", handled: null, el: null};
    items.set(id, it);
  }
  return it;
}

// A judged chat row (its insight just arrived): flagged or held → an open item, unless a
// decision already came.
export function offer(row) {
  const ins = row.insight, ev = row.event;
  const flags = ins.labels.filter(l => l.name === "toxic" || l.name === "spam").map(l => l.name + (l.kind ? ":" + l.kind : ""));
  if (!flags.length && !ins.hidden && !items.has(ev.id)) return;
  const it = item(ev.id, ev.stream);
  it.user = ev.user; it.text = ev.text; it.at = ev.at;
  it.flags = [...new Set(flags)]; it.reasons = ins.reasons.map(r => r.text).slice(0, 4);
  if (!it.handled && !it.since) {
    it.state = ins.hidden ? "held" : "visible"; it.open = true;
  }
  changed();
}

// A decision from the moderation stage: a moderator's closes the item (a "hold" reopens
// it), a stage's hold opens it.
export function decide(d, row) {
  if (d.action === "block") {  // hidden by its author's block: no review item
    const it = items.get(d.event_id);
    if (it && !it.handled) { dropItem(it); changed(); }
    return;
  }
  if (!row && !items.has(d.event_id)) { refreshReview(); return; }  // not on this page yet
  const it = item(d.event_id, d.stream);
  if (d.at < it.since) return;  // an older decision than the one shown
  if (row) { it.user = row.event.user; it.text = row.event.text; it.at = row.event.at; }
  it.state = d.state; it.by = d.by; it.reason = d.reason; it.since = d.at;
  if (d.moderator && d.action !== "hold") {
    it.open = false;
    it.handled = {by: d.by, action: d.action, previous: d.previous, state: d.state, at: d.at};
  } else {
    it.open = true; it.handled = null;
  }
  changed();
}

// The queue as the stage holds it (late connect, reconnect, and every 15 s).
export const refreshReview = oneAtATime(async () => {
  if (!currentStream) return;
  const asked = Date.now() / 1000;
  const view = await api(`/api/streams/${encodeURIComponent(currentStream)}/review`);
  if (!view) return;
  const listed = new Set();
  for (const s of [...view.open_items, ...view.handled_items]) {
    listed.add(s.event_id);
    const it = item(s.event_id, currentStream);
    if (it.since > s.since) continue;  // a live decision newer than the view
    it.user = s.user; it.text = s.text; it.at = s.at; it.flags = s.flags; it.reasons = s.reasons;
    it.state = s.state; it.by = s.by; it.reason = s.reason; it.since = s.since; it.open = s.open;
    it.handled = s.final && !s.open ? {by: s.by, action: s.action, previous: s.previous, state: s.state, at: s.since} : null;
  }
  // Open here but no longer open there (decided elsewhere, or forgotten): closed, if the
  // view listed every open item and nothing newer came in since it was asked for.
  if (view.open_items.length === view.open) {
    for (const it of items.values()) {
      if (it.open && !listed.has(it.id) && it.since <= asked && it.stream === currentStream) dropItem(it);
    }
  }
  serverOpen = view.open > view.open_items.length ? view.open : null;
  changed();
});
setInterval(refreshReview, 15000);

function dropItem(it) { it.el?.remove(); items.delete(it.id); }

// -- what the page shows ----------------------------------------------------------------

let scheduled = false;
function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(render);
}

export function openCount() {
  let n = 0;
  for (const it of items.values()) if (it.open) n++;
  return serverOpen !== null ? Math.max(n, serverOpen) : n;
}

function when(t) { return new Date(t * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}); }

function who(it) {
  const u = it.user || {id: "", unique_id: "?", nickname: ""};
  return `<span class="who" data-user="${esc(u.id)}" data-stream="${esc(it.stream)}" data-handle="${esc(u.unique_id)}" data-nick="${esc(u.nickname || "")}" title="open @${esc(u.unique_id)}">@${esc(u.unique_id)}</span>`;
}

function itemHTML(it) {
  const flags = it.flags.map(f => `<span class="label ${esc(f.split(":")[0])}">${esc(f)}</span>`).join(" ");
  const text = `<div class="text">${esc(it.text)}</div>`;
  if (it.open) {
    const reasons = it.reasons.length ? `<div class="reason">${it.reasons.map(esc).join(" · ")}</div>` : "";
    const state = it.state === "held" ? `<span class="state held" title="held by ${esc(it.by || "a stage")}${it.reason ? ": " + esc(it.reason) : ""}">held</span>` : "";
    const buttons = it.state === "held"
      ? `<button data-act="approve" title="show it on the overlays">approve</button><button data-act="hide" title="keep it off the overlays">hide</button>`
      : `<button data-act="approve" title="it is fine: keep it visible">ok</button><button data-act="hide" title="take it off the overlays">hide</button>`;
    return `<div class="head">${who(it)}${flags}${state}<span class="when">${when(it.at)}</span><span class="acts">${buttons}</span></div>${text}${reasons}`;
  }
  const h = it.handled;
  const undo = h.state === "visible" ? `<button data-act="hide">hide</button>` : `<button data-act="unhide">unhide</button>`;
  return `<div class="head">${who(it)}${flags}<span class="done ${esc(h.state)}">${esc(DONE[h.action] || h.action)} by ${esc(h.by)}</span>` +
    `<span class="when">${esc(h.previous)} → ${esc(h.state)} · ${when(h.at)}</span><span class="acts">${undo}</span></div>${text}`;
}

function render() {
  scheduled = false;
  const open = [...items.values()].filter(it => it.open).sort((a, b) => b.at - a.at);
  const handled = [...items.values()].filter(it => !it.open && it.handled).sort((a, b) => b.handled.at - a.handled.at);
  for (const it of open.slice(MAX_OPEN)) dropItem(it);
  for (const it of handled.slice(MAX_HANDLED)) dropItem(it);
  for (const it of items.values()) if (!it.open && !it.handled) dropItem(it);  // never queued
  place($("flagged"), open.slice(0, MAX_OPEN), "open");
  place($("handled"), handled.slice(0, MAX_HANDLED), "handled");
  const n = openCount();
  $("review-open").textContent = n;
  $("review-open").className = "badge" + (n ? " hot" : "");
  $("handled-count").textContent = handled.length ? `(${Math.min(handled.length, MAX_HANDLED)})` : "";
  $("review-empty").hidden = n > 0;
}

// Each item keeps its element: only what changed is redrawn, so a button is never
// replaced under a moderator's pointer by an unrelated update.
function place(list, shown, kind) {
  for (const it of shown) {
    if (!it.el) { it.el = document.createElement("div"); it.el.dataset.id = it.id; }
    it.el.className = `msg review-item ${kind} ${it.state}`;
    const html = itemHTML(it);
    if (it.el.dataset.html !== html) { it.el.innerHTML = html; it.el.dataset.html = html; }
  }
  // Reorder only when the order differs.
  const current = [...list.children];
  if (current.length !== shown.length || shown.some((it, i) => current[i] !== it.el)) {
    list.replaceChildren(...shown.map(it => it.el));
  }
}

for (const id of ["flagged", "handled"]) {
  $(id).addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    const el = b && b.closest(".review-item");
    if (!el) return;
    const it = items.get(el.dataset.id);
    if (it) command(it.stream, b.dataset.act, it.id);
  });
}
