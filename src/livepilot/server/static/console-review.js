// livepilot console: the review queue. Every message a stage flagged (toxic, spam) or held
// is an open item until a moderator decides on it. The moderation stage applies the
// decision and publishes it ("moderation" messages) to every console at once: the item
// leaves the open list for the handled list, which says who decided, from which state to
// which. A console that connects late (or reconnects) reads the queue as it stands from
// GET /api/streams/{stream}/review, then follows the live decisions.
//
// Keyboard: one open item is selected (j/k); a/h/s/c act on it (console-keys.js). Claims
// (who handles which item) come from the presence frames (console-presence.js).
import {$, esc, inFrame, oneAtATime, put} from "./console-dom.js";
import {currentStream, onStreamChange} from "./console-state.js";
import {api} from "./console-api.js";
import {command} from "./console-commands.js";
import {labelName, localise, t, word} from "./console-i18n.js";
import {claimedBy, myName, onPresence, release, toggleClaim} from "./console-presence.js";

const MAX_OPEN = 300;      // open items this page keeps (the stage keeps its own, larger queue)
const SHOWN_OPEN = 30;     // open items on the page at once (a screen holds ~8); the rest follow as these are decided
const MAX_HANDLED = 30;    // handled items shown, greyed, newest decision first
const items = new Map();   // event id -> item
let serverOpen = null;     // the stage's open count when it is more than this page holds

let arrivals = 0;          // items in the order this page learnt of them (ties of `at`)
let selected = null;       // the open item's id the shortcuts act on
let shownOpen = [];        // the open items as listed, in order

// -- what changes the queue -------------------------------------------------------------

function item(id, stream) {
  let it = items.get(id);
  if (!it) {
    it = {id, stream, order: ++arrivals, user: null, text: "", flags: [], reasons: [], score: null, state: "visible", open: false,
          at: 0, since: 0, seen: 0, by: "", reason: "", handled: null, el: null};
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
  it.seen = Date.now() / 1000;  // when this page learnt of it (see refreshReview)
  it.user = ev.user; it.text = ev.text; it.at = ev.at;
  it.flags = [...new Set(flags)]; it.reasons = ins.reasons.slice(0, 4);
  it.score = ins.scores && ins.scores.toxicity != null ? ins.scores.toxicity : null;
  it.dirty = true;
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
  it.state = d.state; it.by = d.by; it.reason = d.reason; it.since = d.at; it.dirty = true;
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
  // Oldest first, so items this page first meets here keep the stream's order when two
  // share a timestamp (the view lists newest first).
  for (const s of [...view.open_items, ...view.handled_items].reverse()) {
    listed.add(s.event_id);
    const it = item(s.event_id, currentStream);
    if (it.since > s.since) continue;  // a live decision newer than the view
    it.user = s.user; it.text = s.text; it.at = s.at; it.flags = s.flags; it.reasons = s.said || s.reasons;
    it.state = s.state; it.by = s.by; it.reason = s.reason; it.since = s.since; it.open = s.open; it.dirty = true;
    it.handled = s.final && !s.open ? {by: s.by, action: s.action, previous: s.previous, state: s.state, at: s.since} : null;
  }
  // Open here but no longer open there (decided elsewhere, or forgotten): closed, if the
  // view listed every open item and nothing newer came in since it was asked for. An item
  // this page learnt of while the request was on its way is newer than the view, not gone.
  if (view.open_items.length === view.open) {
    for (const it of items.values()) {
      if (it.open && !listed.has(it.id) && it.since <= asked && it.seen < asked
          && it.stream === currentStream) dropItem(it);
    }
  }
  serverOpen = view.open > view.open_items.length ? view.open : null;
  changed();
});
setInterval(refreshReview, 15000);

// Its element leaves the page at the next render (place removes what is not listed): every
// write of the queue happens in the page's write frame.
function dropItem(it) { items.delete(it.id); }

// -- what the page shows ----------------------------------------------------------------

// Drawn in the page's write frame, with the chat's batch (console-dom.js).
function changed() { inFrame(render); }

export function openCount() {
  let n = 0;
  for (const it of items.values()) if (it.open) n++;
  return serverOpen !== null ? Math.max(n, serverOpen) : n;
}

const CLOCK = new Intl.DateTimeFormat([], {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});
function when(at) { return CLOCK.format(new Date(at * 1000)); }

function who(it) {
  const u = it.user || {id: "", unique_id: "?", nickname: ""};
  return `<span class="who" data-user="${esc(u.id)}" data-stream="${esc(it.stream)}" data-handle="${esc(u.unique_id)}" data-nick="${esc(u.nickname || "")}" title="${esc(t("user.open", {user: "@" + u.unique_id}))}">@${esc(u.unique_id)}</span>`;
}

function button(act, label, title, key) {
  return `<button data-act="${act}" title="${esc(t(title))}${key ? ` (${key})` : ""}">${esc(t(label))}</button>`;
}

function claimsHTML(it) {
  const names = claimedBy(it.stream, it.id);
  return names.map(n => `<span class="claimed${n === myName() ? " mine" : ""}">${esc(t("presence.handles", {name: n}))}</span>`).join("");
}

function flagLabel(f) { const [name, kind] = f.split(":"); return `<span class="label ${esc(name)}">${esc(labelName(name, kind))}</span>`; }

function itemHTML(it) {
  const flags = it.flags.map(flagLabel).join(" ");
  const text = `<div class="text">${esc(it.text)}</div>`;
  if (it.open) {
    const reasons = it.reasons.length ? `<div class="reason">${it.reasons.map(r => esc(localise(r))).join(" · ")}</div>` : "";
    const state = it.state === "held" ? `<span class="state held" title="${esc(t("review.held_by", {by: it.by || t("review.a_stage")}))}${it.reason ? ": " + esc(localise(it.reason)) : ""}">${esc(t("state.held"))}</span>` : "";
    const score = it.score != null ? `<span class="score" title="${esc(t("review.score_title"))}">${esc(t("chat.tox_score", {score: it.score.toFixed(2)}))}</span>` : "";
    const buttons = (it.state === "held"
      ? button("approve", "act.approve", "act.approve_title", "a") + button("hide", "act.hide", "act.keep_hidden_title", "h")
      : button("approve", "act.ok", "act.ok_title", "a") + button("hide", "act.hide", "act.hide_title", "h"))
      + button("strike", "act.strike", "act.strike_title", "s") + button("claim", "act.claim", "act.claim_title", "c");
    return `<div class="head">${who(it)}${flags}${state}${claimsHTML(it)}<span class="when">${when(it.at)}</span>${score}</div>${text}${reasons}<div class="acts">${buttons}</div>`;
  }
  const h = it.handled;
  const undo = h.state === "visible" ? button("hide", "act.hide", "act.hide_title") : button("unhide", "act.unhide", "act.unhide_title");
  return `<div class="head">${who(it)}${flags}<span class="done ${esc(h.state)}">${esc(word("done.", h.action, {by: h.by}))}</span>` +
    `<span class="when">${esc(word("state.", h.previous))} → ${esc(word("state.", h.state))} · ${when(h.at)}</span><span class="acts">${undo}</span></div>${text}`;
}

function render() {
  const open = [...items.values()].filter(it => it.open && it.stream === currentStream).sort((a, b) => b.at - a.at || b.order - a.order);
  const handled = [...items.values()].filter(it => !it.open && it.handled && it.stream === currentStream).sort((a, b) => b.handled.at - a.handled.at);
  for (const it of open.slice(MAX_OPEN)) dropItem(it);
  for (const it of handled.slice(MAX_HANDLED)) dropItem(it);
  for (const it of items.values()) if (!it.open && !it.handled) dropItem(it);  // never queued
  keepSelection(open.slice(0, SHOWN_OPEN));
  place($("flagged"), shownOpen, "open");
  const more = Math.min(open.length, MAX_OPEN) - shownOpen.length;
  put($("review-more"), "hidden", more <= 0);
  if (more > 0) put($("review-more"), "textContent", t("review.more", {n: more}));
  place($("handled"), handled.slice(0, MAX_HANDLED), "handled");
  const n = openCount();
  put($("review-open"), "textContent", String(n));
  put($("review-open"), "className", "badge" + (n ? " hot" : ""));
  put($("handled-count"), "textContent", handled.length ? `(${Math.min(handled.length, MAX_HANDLED)})` : "");
  put($("flagged"), "hidden", n === 0);
  put($("review-empty"), "hidden", n > 0);
}


// Each item keeps its element: only what changed is redrawn, so a button is never
// replaced under a moderator's pointer by an unrelated update.
function place(list, shown, kind) {
  for (const it of shown) {
    if (!it.el) { it.el = document.createElement("div"); it.el.dataset.id = it.id; }
    put(it.el, "className", `msg review-item ${kind} ${it.state}${kind === "open" && it.id === selected ? " selected" : ""}`);
    // Only an item that changed is drawn again: a busy queue costs what changed, not its length.
    if (it.dirty || it.html === undefined) {
      const html = itemHTML(it);
      if (it.html !== html) { it.el.innerHTML = html; it.html = html; }
      it.dirty = false;
    }
  }
  // Move only what is out of place: a new item on top is one insertion, not a rebuild.
  let at = list.firstElementChild;
  for (const it of shown) {
    if (at === it.el) { at = at.nextElementSibling; continue; }
    list.insertBefore(it.el, at);
  }
  while (at) { const next = at.nextElementSibling; at.remove(); at = next; }
}

for (const id of ["flagged", "handled"]) {
  $(id).addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    const el = b && b.closest(".review-item");
    if (!el) return;
    const it = items.get(el.dataset.id);
    if (it) act(it, b.dataset.act);
  });
}

// One action on one item: a moderation command, a strike on its author, or a claim.
function act(it, action) {
  if (action === "strike") {
    if (it.user) command(it.stream, "strike", it.user.id, {points: 1, handle: it.user.unique_id});
    return;
  }
  if (action === "claim") { toggleClaim(it.stream, it.id); return; }
  if (command(it.stream, action, it.id)) release(it.stream, it.id);  // decided: nobody handles it any more
}

// -- selection and the shortcuts' entry points ------------------------------------------

// The selection stays on its item; when that item leaves the open list it moves to the
// one that took its place, so a/h in a row work down the queue.
function keepSelection(open) {
  const before = shownOpen.findIndex(it => it.id === selected);
  shownOpen = open;
  if (!open.length) { selected = null; return; }
  if (selected !== null && open.some(it => it.id === selected)) return;
  if (selected !== null && before >= 0) selected = open[Math.min(before, open.length - 1)].id;
}

export function moveSelection(step) {
  if (!shownOpen.length) return;
  const at = shownOpen.findIndex(it => it.id === selected);
  const next = at < 0 ? 0 : Math.max(0, Math.min(shownOpen.length - 1, at + step));
  selected = shownOpen[next].id;
  for (const it of shownOpen) it.el?.classList.toggle("selected", it.id === selected);
  shownOpen[next].el?.scrollIntoView({block: "nearest"});
}

export function actOnSelected(action) {
  const it = selected !== null ? items.get(selected) : null;
  if (!it || !it.open) return false;
  act(it, action);
  return true;
}
export function selectedId() { return selected; }
onPresence(redrawAll);

onStreamChange(() => { selected = null; changed(); refreshReview(); });
function redrawAll() { for (const it of items.values()) it.dirty = true; changed(); }
document.addEventListener("langchange", redrawAll);
