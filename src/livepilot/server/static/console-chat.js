// livepilot console: the chat list, its judged rows and their moderation state, and the
// questions-and-leads list that copies from it (the review queue is console-review.js).
import {$, esc} from "./console-dom.js";
import {counts, currentStream, rows, setCurrentStream, trim} from "./console-state.js";
import {command} from "./console-commands.js";
import {decide, offer, refreshReview} from "./console-review.js";
import {refreshPanels} from "./console-questions.js";
import {refreshShow} from "./console-show.js";
import {renderUserMessages, userPanel} from "./console-users.js";

function describe(ev) {
  const u = ev.user ? "@" + ev.user.unique_id : "";
  switch (ev.type) {
    case "gift": return `${u} sent ${ev.gift_name} ×${ev.count}${ev.final ? "" : " …"} (${ev.count * ev.diamond_value} 💎)`;
    case "like": return `${u} liked ×${ev.count}`;
    case "join": return `${u} joined`;
    case "follow": return `${u} followed`;
    case "share": return `${u} shared`;
    case "viewers": return `viewers: ${ev.count}`;
    case "status": return `stream ${ev.stream}: ${ev.state} ${ev.detail || ""}`;
    case "delete": return `platform deleted ${ev.target}`;
    case "gap": return `⚠ data gap: ${ev.cause || ""} (${Math.round((ev.end || 0) - (ev.start || 0))} s)`;
    case "subscribe": return `${u} subscribed`;
    case "poll": return `poll: ${ev.title || ev.question || ""}`;
    default: return ev.type;
  }
}

const QUIET_NOT_SCORED = new Set(["no_letters", "rules"]);
const NOT_SCORED_WHY = {
  overload: "the model lane was saturated; judged by the rules only",
  too_long: "too long for the model; judged by the rules only",
  no_language: "no language the models know",
  loading: "the model was still loading",
  error: "the model failed on this message",
  unavailable: "no model is configured for this language",
};

// The word filter and the model may both say "toxic:insult": one badge, both sources in its title.
export function uniqueLabels(labels) {
  const seen = new Map();
  for (const l of labels) {
    const key = l.name + ":" + (l.kind || "");
    if (seen.has(key)) seen.get(key).sources.push(l.source);
    else seen.set(key, {name: l.name, kind: l.kind, sources: [l.source]});
  }
  return [...seen.values()];
}

// A message's state: the moderation stage's latest decision on it, else its verdict
// (a stage hid it: held for review), else visible.
export function rowState(r) {
  if (r.decision) return r.decision.state;
  return r.insight && r.insight.hidden ? "held" : "visible";
}

const STATE_BUTTONS = {
  visible: `<button data-act="hide" title="take it off the overlays">hide</button><button data-act="hold" title="off the overlays, into the review queue">hold</button>`,
  held: `<button data-act="approve" title="show it on the overlays">approve</button><button data-act="hide" title="keep it off the overlays">hide</button>`,
  hidden: `<button data-act="unhide" title="show it on the overlays again">unhide</button>`,
};
const DONE = {hide: "hidden", approve: "approved", unhide: "unhidden", hold: "held", block: "author blocked"};

function stateBadge(r, state) {
  const d = r.decision;
  if (d && d.moderator) return ` <span class="state ${state}" title="${esc(d.previous)} → ${esc(d.state)}">${esc(DONE[d.action] || d.action)} by ${esc(d.by)}</span>`;
  if (state === "held") return ` <span class="state held" title="${esc(d ? d.reason : "")}">held</span>`;
  return "";
}

function renderRow(r) {
  const ev = r.event, ins = r.insight, state = rowState(r);
  const labels = ins ? uniqueLabels(ins.labels).map(l => `<span class="label ${esc(l.name)}" title="${esc(l.sources.join(", "))}">${esc(l.name)}${l.kind ? ":" + esc(l.kind) : ""}</span>`).join(" ") : "";
  const reasons = ins && ins.reasons.length ? `<span class="reason">${ins.reasons.map(x => esc(x.text)).join(" · ")}${ins.action ? " → " + esc(ins.action) : ""}</span>` : "";
  const tox = ins && ins.scores && ins.scores.toxicity != null ? ` <span class="label">tox ${ins.scores.toxicity.toFixed(2)}</span>` : "";
  const pending = ins && ins.pending && ins.pending.length ? ` <span class="label">…${esc(ins.pending.join(","))}</span>` : "";
  // No model verdict, and why — shown where it matters to a moderator (emote-only lines and
  // lines the word filter already decided are routine and stay quiet).
  const unscored = ins && ins.not_scored && !QUIET_NOT_SCORED.has(ins.not_scored)
    ? ` <span class="label not-scored" title="${esc(NOT_SCORED_WHY[ins.not_scored] || "")}">not scored: ${esc(ins.not_scored)}</span>` : "";
  r.el.className = "msg" + (ins && ins.labels.some(l => l.name === "toxic" || l.name === "spam") ? " flagged" : "") + (state !== "visible" ? " hidden " + state : "");
  r.el.innerHTML = `${who(ev)}<span class="text">${esc(ev.text)}${reasons}</span>${labels}${tox}${pending}${unscored}${stateBadge(r, state)}
    <span class="acts">${STATE_BUTTONS[state]}</span>`;
  for (const b of r.el.querySelectorAll(".acts button")) b.onclick = () => command(ev.stream, b.dataset.act, ev.id);
  if (userPanel.user && ev.user.id === userPanel.user.id) renderUserMessages();
}

// The author's @handle; a click opens the user panel (the flagged copy carries it along).
function who(ev) {
  return `<span class="who" data-user="${esc(ev.user.id)}" data-stream="${esc(ev.stream)}" data-handle="${esc(ev.user.unique_id)}" data-nick="${esc(ev.user.nickname || "")}" title="open @${esc(ev.user.unique_id)}">@${esc(ev.user.unique_id)}</span>`;
}

export function onEvent(ev) {
  counts.events++;
  if (!currentStream && ev.stream) { setCurrentStream(ev.stream); refreshPanels(); refreshShow(); refreshReview(); }
  if (ev.type === "chat" || ev.type === "question") {
    const el = document.createElement("div");
    el.dataset.id = ev.id;
    const r = {el, event: ev, insight: null, decision: null};
    rows.set(ev.id, r);
    renderRow(r);
    $("chat").prepend(el); trim($("chat"));
    return;
  }
  if (ev.type === "like" || ev.type === "join") return;  // too many to list; counted in stats
  if (ev.type === "delete" && rows.has(ev.target)) { rows.get(ev.target).el.classList.add("hidden"); }
  if (ev.type === "status") { $("streams").textContent = `${ev.stream}: ${ev.state}`; }
  const el = document.createElement("div");
  el.className = "msg other"; el.textContent = describe(ev);
  $("chat").prepend(el); trim($("chat"));
}

export function onInsight(ins) {
  const r = rows.get(ins.event_id);
  if (!r || (r.insight && r.insight.version > ins.version)) return;
  const wasFlagged = r.insight && r.insight.labels.some(l => l.name === "toxic" || l.name === "spam");
  r.insight = ins; renderRow(r);
  const names = ins.labels.map(l => l.name);
  if (!wasFlagged && (names.includes("toxic") || names.includes("spam"))) counts.flagged++;
  offer(r);
  if (names.includes("question") || names.includes("lead")) {
    const q = document.createElement("div"); q.className = "msg";
    q.innerHTML = `${who(r.event)}<span class="text">${esc(r.event.text)}${ins.answer ? `<span class="reason">💡 ${esc(ins.answer)}</span>` : ""}</span>` +
      ins.labels.filter(l => l.name === "question" || l.name === "lead").map(l => `<span class="label ${l.name}">${l.name}${l.kind ? ":" + esc(l.kind) : ""}</span>`).join(" ");
    $("questions").prepend(q); trim($("questions"));
  }
}

// The moderation stage applied a decision (a moderator's, or a stage's late hold): every
// console shows it at once.
export function onDecision(d) {
  const r = rows.get(d.event_id);
  if (r && !(r.decision && r.decision.at > d.at)) { r.decision = d; renderRow(r); }
  decide(d, r);
}
