// livepilot console: the chat list, its judged rows and their moderation state, and the
// questions-and-leads list that copies from it (the review queue is console-review.js).
//
// Newest at the bottom, like the chat on the phone. The list stops moving while the
// pointer is on it or it is scrolled up: new rows wait off the page and a bar counts them;
// a click on the bar, leaving the list or scrolling back down brings them in. A gift
// streak is one row, updated in place as the streak grows.
//
// Under a busy chat (a hundred lines a second) the page stays responsive because the DOM
// is written in batches: new rows and redrawn rows wait in a queue, and the page's write
// frame (inFrame, at most every FRAME_MS) draws them a chunk at a time from one parsed HTML
// string each, appends them, trims the list now and then, and only then moves the scroll
// position (one layout a batch, never one a message). A frame draws only what fits its
// slice of script time; a backlog larger than a page is dropped, not drawn. Chat text and
// nicknames only ever reach the page escaped (esc) or as text.
import {$, MORE, afterFrame, esc, inFrame, overBudget} from "./console-dom.js";
import {CHAT_ROWS, CHAT_SLACK, MAX_ROWS, counts, currentStream, firstSight, onStreamChange, rows, setCurrentStream} from "./console-state.js";
import {command} from "./console-commands.js";
import {decide, offer} from "./console-review.js";
import {renderUserMessages, userPanel} from "./console-users.js";
import {labelName, localise, t, word} from "./console-i18n.js";
import {count as pulseCount} from "./console-pulse.js";

const chat = $("chat");
const QUIET_LABELS = new Set(["queued"]);   // bookkeeping of the questions stage, not news
const QUIET_NOT_SCORED = new Set(["no_letters", "rules"]);
const FLAGS = new Set(["toxic", "spam"]);
const gifts = new Map();                    // streak key -> {el, event}
const others = new WeakMap();               // a gift/follow/status row -> its event (for relabelling)

function describe(ev) {
  const u = ev.user ? "@" + ev.user.unique_id : "";
  switch (ev.type) {
    case "gift": return t(ev.final ? "event.gift" : "event.gift_streak", {user: u, gift: ev.gift_name, n: ev.count, diamonds: ev.count * ev.diamond_value});
    case "follow": return t("event.follow", {user: u});
    case "share": return t("event.share", {user: u});
    case "subscribe": return t("event.subscribe", {user: u});
    case "status": return t("event.status", {stream: ev.stream, state: word("stream_state.", ev.state), detail: ev.detail || ""});
    case "delete": return t("event.delete");
    case "gap": return t("event.gap", {cause: ev.cause || "", s: Math.round((ev.end || 0) - (ev.start || 0))});
    case "poll": return t("event.poll", {title: ev.title || ev.question || ""});
    default: return t("event.other", {type: ev.type});
  }
}
const LISTED = new Set(["gift", "follow", "share", "subscribe", "status", "delete", "gap", "poll"]);

// The word filter and the model may both say "toxic:insult": one badge, both sources in its title.
export function uniqueLabels(labels) {
  const seen = new Map();
  for (const l of labels) {
    if (QUIET_LABELS.has(l.name)) continue;
    const key = l.name + ":" + (l.kind || "");
    if (seen.has(key)) seen.get(key).sources.push(l.source);
    else seen.set(key, {name: l.name, kind: l.kind, sources: [l.source]});
  }
  return [...seen.values()];
}
export function labelsHTML(labels) {
  return uniqueLabels(labels).map(l => `<span class="label ${esc(l.name)}" title="${esc(l.sources.join(", "))}">${esc(labelName(l.name, l.kind))}</span>`).join(" ");
}
export function isFlagged(ins) { return !!ins && ins.labels.some(l => FLAGS.has(l.name)); }

// A message's state: the moderation stage's latest decision on it, else its verdict
// (a stage hid it: held for review), else visible.
export function rowState(r) {
  if (r.decision) return r.decision.state;
  return r.insight && r.insight.hidden ? "held" : "visible";
}

function stateButtons(state) {
  const b = (act, title) => `<button data-act="${act}" title="${esc(t(title))}">${esc(t("act." + act))}</button>`;
  if (state === "visible") return b("hide", "act.hide_title") + b("hold", "act.hold_title");
  if (state === "held") return b("approve", "act.approve_title") + b("hide", "act.keep_hidden_title");
  return b("unhide", "act.unhide_title");
}

export function doneText(action, by) { return word("done.", action, {by}); }

function stateBadge(r, state) {
  const d = r.decision;
  if (d && d.moderator) return ` <span class="state ${esc(state)}" title="${esc(word("state.", d.previous))} → ${esc(word("state.", d.state))}">${esc(doneText(d.action, d.by))}</span>`;
  if (state === "held") return ` <span class="state held" title="${esc(d ? localise(d.reason) : "")}">${esc(t("state.held"))}</span>`;
  return "";
}

// What a moderator reads on hover: every reason and the model's score.
export function hoverText(ins) {
  if (!ins) return "";
  const parts = ins.reasons.map(x => localise(x));
  if (ins.scores && ins.scores.toxicity != null) parts.push(t("chat.tox_score", {score: ins.scores.toxicity.toFixed(2)}));
  return parts.join("\n");
}

// A row is drawn once a batch however many updates (the message, its insight, a
// decision) arrived for it; a row already dropped from the page is not drawn at all.
function renderRow(r) {
  if (!r.el) return;
  redraw.add(r);
  inFrame(flush);
}

// A row's class and title are set on its element; its inside is returned as HTML, parsed
// with the rest of the batch (drawRows).
function drawRow(r) {
  const ev = r.event, ins = r.insight, state = rowState(r);
  const flagged = isFlagged(ins), names = ins ? ins.labels.map(l => l.name) : [];
  // Reasons in words where they matter (flagged, held, a question or lead); on hover otherwise.
  const loud = flagged || state !== "visible" || names.includes("question") || names.includes("lead");
  const reasons = ins && loud && ins.reasons.length
    ? `<span class="reason">${ins.reasons.map(x => esc(localise(x))).join(" · ")}${ins.action ? " → " + esc(word("action.", ins.action)) : ""}</span>` : "";
  const pending = ins && ins.pending && ins.pending.length ? ` <span class="label" title="${esc(ins.pending.join(", "))}">…</span>` : "";
  // No model verdict, and why — shown where it matters to a moderator (emote-only lines and
  // lines the word filter already decided are routine and stay quiet).
  const unscored = ins && ins.not_scored && !QUIET_NOT_SCORED.has(ins.not_scored)
    ? ` <span class="label not-scored" title="${esc(word("not_scored_why.", ins.not_scored))}">${esc(t("chat.not_scored", {why: word("not_scored.", ins.not_scored)}))}</span>` : "";
  r.el.className = "msg" + (flagged ? " flagged" : "") + (state !== "visible" ? " hidden " + state : "");
  r.el.title = hoverText(ins);
  return `${who(ev)}<span class="body"><span class="text">${esc(ev.text)}</span> ${ins ? labelsHTML(ins.labels) : ""}${pending}${unscored}${stateBadge(r, state)}${reasons}</span>
    <span class="acts">${stateButtons(state)}</span>`;
}

// One HTML parse a batch, not one a row: each row's HTML in a wrapper of its own, parsed
// together, then each wrapper's nodes moved into its row (the row element stays the same
// one, so the lists holding it need no update).
const parser = document.createElement("template");
function drawRows(list) {
  parser.innerHTML = list.map(r => `<div>${drawRow(r)}</div>`).join("");
  const parsed = parser.content.children;
  for (let i = 0; i < list.length; i++) list[i].el.replaceChildren(...parsed[i].childNodes);
  parser.innerHTML = "";
}

// The author's @handle; a click opens the user panel (the flagged copy carries it along).
export function who(ev) {
  const u = ev.user || {id: "", unique_id: "?", nickname: ""};
  return `<span class="who" data-user="${esc(u.id)}" data-stream="${esc(ev.stream)}" data-handle="${esc(u.unique_id)}" data-nick="${esc(u.nickname || "")}" title="${esc(t("user.open", {user: "@" + u.unique_id}))}">@${esc(u.unique_id)}</span>`;
}

chat.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-act]");
  const el = b && b.closest(".msg[data-id]");
  const r = el && rows.get(el.dataset.id);
  if (r) command(r.event.stream, b.dataset.act, r.event.id);
});

// -- the feed: follow the newest, or hold still ---------------------------------------
// userAt: when the moderator last did something that scrolls (see the scroll listener).
const feed = {hover: false, scrolledUp: false, waiting: [], fresh: 0, userAt: -1e9};
export function paused() { return feed.hover || feed.scrolledUp; }
export function waitingCount() { return feed.fresh; }

function place(el) {
  incoming.push(el);
  inFrame(flush);
}

// -- the batch: every DOM write of the chat, in the page's write frame -------------------
const incoming = [];       // new rows not yet on the page
const redraw = new Set();  // row records whose message, insight or decision changed

// Writes only, then one scroll adjustment after every part's writes: nothing here reads
// layout before it writes. The work is cut in chunks of CHUNK rows — redrawn rows and new
// rows in turn, oldest first — and stops when the frame's slice is spent (overBudget); the
// rest is drawn in the next frame (MORE). The backlog is bounded whatever the rate: of new
// rows only the newest CHAT_ROWS can ever be on the page, so older ones are dropped
// unbuilt and a stall costs at most one page of rows, never the whole stall's worth.
const CHUNK = 12;
function flush() {
  let panel = false;
  if (incoming.length) {
    if (paused()) wait(incoming.splice(0));
    else if (incoming.length > CHAT_ROWS) for (const el of incoming.splice(0, incoming.length - CHAT_ROWS)) forget(el);
  }
  do {
    const drawn = [];
    for (const r of redraw) {
      redraw.delete(r);
      if (!r.el) continue;
      drawn.push(r);
      if (userPanel.user && r.event.user && r.event.user.id === userPanel.user.id) panel = true;
      if (drawn.length >= CHUNK) break;
    }
    const adding = incoming.splice(0, CHUNK).filter(onPage);
    for (const el of adding) {
      const r = el.dataset.id ? rows.get(el.dataset.id) : null;
      if (r && redraw.delete(r)) drawn.push(r);
    }
    if (drawn.length) drawRows(drawn);
    if (adding.length) {
      const frag = document.createDocumentFragment();
      frag.append(...adding);
      chat.append(frag);
    }
  } while ((redraw.size || incoming.length) && !overBudget());
  if (panel) renderUserMessages();
  if (!paused()) { trim(CHAT_ROWS + CHAT_SLACK); afterFrame(scrollDown); }
  return redraw.size || incoming.length ? MORE : undefined;
}

// A new row still meant for the page: a chat row whose record let go of it (the newest
// MAX_ROWS records pushed it out) is not.
function onPage(el) {
  if (!el.dataset.id) return true;
  const r = rows.get(el.dataset.id);
  return !!r && r.el === el;
}

// While paused, new rows wait off the page; a long pause keeps only the newest CHAT_ROWS.
function wait(els) {
  for (const el of els) feed.waiting.push(el);
  feed.fresh += els.length;
  while (feed.waiting.length > CHAT_ROWS) forget(feed.waiting.shift());
  showBar();
}

// A row leaves the page; its record stays (the user panel, late verdicts and decisions
// still find it) until the newest MAX_ROWS records push it out.
function forget(el) {
  const r = el.dataset.id ? rows.get(el.dataset.id) : null;
  if (r && r.el === el) r.el = null;
  if (el.dataset.gift) gifts.delete(el.dataset.gift);
  el.remove();
}

// Bounded records: the oldest go first, with their element if it is still around.
function remember(r) {
  rows.set(r.event.id, r);
  while (rows.size > MAX_ROWS) {
    const [id, old] = rows.entries().next().value;
    rows.delete(id);
    if (old.el) forget(old.el);
  }
}

export function resume() {
  feed.hover = false; feed.scrolledUp = false;
  if (feed.waiting.length || incoming.length) {
    const frag = document.createDocumentFragment();
    for (const el of feed.waiting) if (onPage(el)) frag.append(el);
    for (const el of incoming) if (onPage(el)) frag.append(el);
    feed.waiting = []; incoming.length = 0;
    chat.append(frag);
  }
  feed.fresh = 0;
  showBar();
  toNewest();
}

// At once, not next frame: after a click on the bar the pointer is over the chat, and
// the pause it causes must not keep the moderator from the newest rows. The list keeps
// its newest CHAT_ROWS rows; the trim is a write, the scroll the one layout it costs.
function toNewest() {
  trim(CHAT_ROWS);
  scrollDown();
}
// Past `most` rows, the list is cut back to its newest CHAT_ROWS (see CHAT_SLACK).
function trim(most) {
  if (chat.childElementCount <= most) return;
  let extra = chat.childElementCount - CHAT_ROWS;
  while (extra-- > 0) forget(chat.firstElementChild);
}
function scrollDown() { if (!paused()) chat.scrollTop = chat.scrollHeight; }

// Writes only what changed: a class or attribute write restyles the whole chat.
const shown = {fresh: -1, paused: null, label: ""};
function showBar() {
  const bar = $("chat-more"), n = feed.fresh, label = n ? t("chat.new", {n}) + " ↓" : "";
  if (n !== shown.fresh || label !== bar.textContent) { bar.hidden = !n; bar.textContent = label; shown.fresh = n; }
  const p = paused(), word = t("chat.paused");
  if (p !== shown.paused) { $("chat-panel").classList.toggle("paused", p); shown.paused = p; }
  if (word !== shown.label) { $("chat-panel").querySelector("h2").dataset.paused = word; shown.label = word; }
}

chat.addEventListener("mouseenter", () => { feed.hover = true; showBar(); });
$("chat-panel").addEventListener("mouseleave", () => { feed.hover = false; if (!paused()) resume(); else showBar(); });
// Only the moderator scrolls the chat up: a wheel, a key, a touch or the scroll bar just
// before the scroll event. Rows growing or leaving (late verdicts, trimming, off-screen rows
// laid out late) move the position too, and must not pause the chat.
function intent() { feed.userAt = performance.now(); }
chat.addEventListener("wheel", intent, {passive: true});
chat.addEventListener("touchmove", intent, {passive: true});
chat.addEventListener("mousedown", intent);
chat.addEventListener("keydown", intent);
chat.addEventListener("scroll", () => {
  const bottom = chat.scrollTop + chat.clientHeight >= chat.scrollHeight - 24;
  const byHand = performance.now() - feed.userAt < 1500;
  const up = byHand ? !bottom : feed.scrolledUp && !bottom;
  if (up === feed.scrolledUp) return;
  feed.scrolledUp = up;
  if (!paused()) resume(); else showBar();
}, {passive: true});
$("chat-more").addEventListener("click", () => resume());

// -- incoming ---------------------------------------------------------------------------

function stickToStream(ev) {
  if (!currentStream && ev.stream) setCurrentStream(ev.stream);  // its listeners read the panels
}

export function onEvent(ev) {
  if (!firstSight(ev.id)) return;   // a replay after reconnecting: already shown
  counts.events++;
  stickToStream(ev);
  pulseCount(ev);
  if (ev.type === "chat" || ev.type === "question") {
    const el = document.createElement("div");
    el.dataset.id = ev.id; el.dataset.stream = ev.stream;
    el.hidden = ev.stream !== currentStream;
    const r = {el, event: ev, insight: null, decision: null};
    remember(r);
    renderRow(r);
    place(el);
    return;
  }
  if (ev.type === "gift") return onGift(ev);
  if (ev.type === "delete" && rows.get(ev.target)?.el) rows.get(ev.target).el.classList.add("hidden");
  if (ev.type === "status") $("conn").title = t("event.status", {stream: ev.stream, state: word("stream_state.", ev.state), detail: ""});
  if (!LISTED.has(ev.type)) return;   // likes, joins, viewer counts: the numbers up top
  const el = document.createElement("div");
  el.className = "msg other"; el.textContent = describe(ev);
  el.dataset.stream = ev.stream; el.hidden = ev.stream !== currentStream;
  others.set(el, ev);
  place(el);
}

// Every step of a gift streak updates the streak's one row.
function onGift(ev) {
  const key = ev.streak_id ? `${ev.stream} ${ev.user.id} ${ev.streak_id}` : "";
  const known = key && gifts.get(key);
  if (known) {
    if (known.event.final || ev.count < known.event.count) return;  // an old step arriving late
    known.event = ev; others.set(known.el, ev);
    inFrame(() => { known.el.textContent = describe(known.event); });
    return;
  }
  const el = document.createElement("div");
  el.className = "msg other gift"; el.textContent = describe(ev);
  el.dataset.stream = ev.stream; el.hidden = ev.stream !== currentStream;
  if (key) { el.dataset.gift = key; gifts.set(key, {el, event: ev}); }
  others.set(el, ev);
  place(el);
}

export function onInsight(ins) {
  const r = rows.get(ins.event_id);
  if (!r || (r.insight && r.insight.version > ins.version)) return;
  const wasFlagged = isFlagged(r.insight);
  r.insight = ins; renderRow(r);
  if (!wasFlagged && isFlagged(ins)) counts.flagged++;
  offer(r);
  listQuestion(r);
}

// -- questions & leads: one row per message, its latest insight -----------------------
const MAX_ASKED = 100;
const asked = new Map();   // event id -> element
const askedDirty = new Set();  // row records whose questions-list entry is out of date
function listQuestion(r) {
  askedDirty.add(r);
  inFrame(drawQuestions);
}
function drawQuestions() {
  for (const r of askedDirty) drawQuestion(r);
  askedDirty.clear();
}
function drawQuestion(r) {
  const ins = r.insight, ev = r.event;
  const mine = ins.labels.filter(l => l.name === "question" || l.name === "lead");
  let el = asked.get(ev.id);
  if (!mine.length) { if (el) { el.remove(); asked.delete(ev.id); } return; }
  if (!el) {
    el = document.createElement("div"); el.className = "msg"; el.dataset.id = ev.id;
    asked.set(ev.id, el); $("questions").prepend(el);
    while (asked.size > MAX_ASKED) { const [old, oldEl] = asked.entries().next().value; oldEl.remove(); asked.delete(old); }
  }
  el.hidden = ev.stream !== currentStream;
  el.title = hoverText(ins);
  el.innerHTML = `${who(ev)}<span class="text">${esc(ev.text)}${ins.answer ? `<span class="reason">💡 ${esc(ins.answer)}</span>` : ""}</span>${labelsHTML(mine)}`;
}

// The moderation stage applied a decision (a moderator's, or a stage's late hold): every
// console shows it at once.
export function onDecision(d) {
  const r = rows.get(d.event_id);
  if (r && !(r.decision && r.decision.at > d.at)) { r.decision = d; renderRow(r); }
  decide(d, r);
}

// -- language and stream switches redraw what is on the page ---------------------------
document.addEventListener("langchange", () => {
  for (const r of rows.values()) renderRow(r);
  for (const el of [...chat.children, ...feed.waiting, ...incoming]) { const ev = others.get(el); if (ev) el.textContent = describe(ev); }
  for (const [id, el] of asked) { const r = rows.get(id); if (r && r.insight) listQuestion(r); else if (!r) { el.remove(); asked.delete(id); } }
  showBar();
});
onStreamChange((stream) => {
  for (const el of [...chat.children, ...feed.waiting, ...incoming]) el.hidden = el.dataset.stream !== stream;
  for (const [id, el] of asked) { const r = rows.get(id); el.hidden = !!r && r.event.stream !== stream; }
});
