// livepilot console: the show panel: run-of-show, poll, giveaway.
import {$, esc, mmss, oneAtATime, put, setHTML} from "./console-dom.js";
import {currentStream} from "./console-state.js";
import {api} from "./console-api.js";
import {command, notify} from "./console-commands.js";
import {t} from "./console-i18n.js";

export const SHOW_ACTIONS = new Set(["segment_start", "segment_next", "poll_start", "poll_close", "giveaway_start", "giveaway_draw"]);
export const SHOW_ALARMS = new Set(["poll", "giveaway", "segment_ending", "segment_overrun", "goal"]);
const show = {ros: null, polls: null, at: 0, burstUntil: 0, ticks: 0};

export function showBurst() { show.burstUntil = Date.now() + 5000; }

export const refreshShow = oneAtATime(async () => {
  if (!currentStream) return;
  const base = `/api/streams/${encodeURIComponent(currentStream)}`;
  const [ros, polls] = await Promise.all([api(base + "/show"), api(base + "/polls")]);
  show.ros = ros; show.polls = polls; show.at = performance.now();
  renderShow();
});

function renderShow() { renderRos(); renderPoll(); renderGiveaway(); tickShow(); }

// The header's segment timer: the current segment and its time left, visible from every tab.
function segmentChip(cur, since) {
  const chip = $("segment");
  put(chip, "hidden", !cur);
  if (!cur) return;
  const left = cur.remaining_s - since;
  put(chip, "textContent", `▶ ${cur.name} · ${left >= 0 ? t("show.left", {time: mmss(left)}) : t("show.over", {time: mmss(-left)})}`);
  put(chip, "className", left >= 0 ? "" : "overrun");
}
document.addEventListener("langchange", () => { if (show.ros || show.polls) renderShow(); });

// A tally from the polls stage updates the panel at once, in the shape GET …/polls
// answers; the periodic read above stays as the fallback. A winner flagged after the draw
// leaves the tally (overlays are on stream) but stays listed here for the moderators.
export function onTally(tally) {
  if (tally.stream !== currentStream) return;
  const polls = show.polls || {poll: null, giveaway: null};
  if (tally.kind === "poll") {
    show.polls = {...polls, poll: {id: tally.id, question: tally.title, open: tally.open, voters: tally.voters, results: tally.options}};
    renderPoll();
  } else {
    const prev = polls.giveaway && polls.giveaway.id === tally.id ? polls.giveaway : null;
    const winners = prev && prev.winners.length > tally.winners.length ? prev.winners : tally.winners;
    show.polls = {...polls, giveaway: {id: tally.id, keyword: tally.keyword, title: tally.title, open: tally.open,
      entries: tally.entries, eligible: tally.eligible, winners}};
    renderGiveaway();
  }
  tickShow();
}

function renderRos() {
  const s = show.ros, el = $("ros");
  if (!s) return setHTML(el, `<span class="meta">${esc(t("show.ros_unavailable"))}</span>`);
  if (!s.loaded) return setHTML(el, `<span class="meta">${esc(t("show.ros_none"))}</span>`);
  const cur = s.current;
  const chips = s.segments.map(g => `<button class="${cur && cur.index === g.index ? "current" : ""}" data-show="segment_start"
      data-args='${esc(JSON.stringify({segment: String(g.index + 1)}))}' title="${esc(t("show.segment_start_title"))}">${g.index + 1} ${esc(g.name)} · ${g.minutes}′</button>`).join("");
  let body = "";
  if (cur) {
    body = `<div><b id="ros-current">${esc(cur.name)}</b> · <span id="ros-left"></span> <span class="meta">${esc(t("show.of_minutes", {n: cur.minutes}))}${s.next ? " · " + esc(t("show.next", {name: s.next})) : ""}</span></div>
      ${cur.talking_points.length ? `<ul id="ros-points">${cur.talking_points.map(p => `<li>${esc(p)}</li>`).join("")}</ul>` : ""}
      ${cur.cta ? `<div class="meta">📣 ${esc(cur.cta.text)} · <span id="ros-cta"></span></div>` : ""}
      ${cur.goal ? `<div class="meta" id="ros-goal">🎯 ${esc(t("show.goal", {label: cur.goal.label || t("goal_metric." + cur.goal.metric), value: cur.goal.value.toLocaleString(), target: cur.goal.target.toLocaleString(), unit: t("goal_metric." + cur.goal.metric)}))}${cur.goal.reached ? " · " + esc(t("show.goal_reached")) : ""}</div>` : ""}
      ${cur.poll ? `<div class="meta">📊 ${esc(cur.poll.question)} <button class="cmd show-cmd" data-show="poll_start" data-args='${esc(JSON.stringify({segment: cur.name}))}'>${esc(t("show.run_poll"))}</button></div>` : ""}`;
  } else {
    const state = s.finished_at ? t("show.finished_at", {time: new Date(s.finished_at * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"})}) : t("show.not_started");
    body = `<div class="meta" id="ros-current">${state}${s.title ? " — " + esc(s.title) : ""}</div>`;
  }
  const questions = [...(cur ? cur.questions : []), ...s.questions];
  const asked = questions.length ? `<details><summary class="meta">${esc(t("show.prepared_questions", {n: questions.length}))}${s.next_question ? " · " + esc(t("show.next_prompt", {text: s.next_question})) : ""}</summary>
      <ul id="ros-questions">${questions.map(q => `<li>${esc(q)}</li>`).join("")}</ul></details>` : "";
  const controls = `<div class="cmd show-cmd">${cur ? "" : `<button data-show="segment_start">${esc(t(s.finished_at ? "show.start_again" : "show.start"))}</button> `}<button data-show="segment_next">${esc(t(cur && !s.next ? "show.finish" : "show.next_segment"))}</button></div>`;
  setHTML(el, `${body}${controls}<div class="segments">${chips}</div>${asked}`);
}

function renderPoll() {
  const p = show.polls && show.polls.poll;
  $("poll-form").hidden = !!(p && p.open);
  if (!p) return setHTML($("poll"), `<span class="meta">${esc(t("show.no_poll"))}</span>`);
  const max = Math.max(1, ...p.results.map(r => r.votes));
  const bars = p.results.map((r, i) => `<div class="bar" data-option="${i + 1}"><span class="fill" style="width:${(100 * r.votes / max).toFixed(1)}%"></span>
      <span>${i + 1} ${esc(r.option)}</span><span class="n">${r.votes} (${Math.round(100 * r.share)} %)</span></div>`).join("");
  setHTML($("poll"), `<div><b>${esc(p.question)}</b> <span class="meta" id="poll-status">${esc(t(p.open ? "show.open" : "show.closed"))} · ${esc(t("show.voters", {n: p.voters}))} · ${esc(t("show.vote_how"))}</span></div>
    ${bars}${p.open ? `<button class="cmd show-cmd" data-show="poll_close">${esc(t("show.poll_close"))}</button>` : ""}`);
}

function renderGiveaway() {
  const g = show.polls && show.polls.giveaway;
  if (!g) return setHTML($("giveaway"), `<span class="meta">${esc(t("show.no_giveaway"))}</span>`);
  const winners = g.winners.map(w => `<span class="winner">🎉 @${esc(w)}</span>`).join(" ");
  setHTML($("giveaway"), `<div>${g.title ? `<b>${esc(g.title)}</b> · ` : ""}${esc(t("show.type_keyword"))} <b>${esc(g.keyword)}</b>
      <span class="meta" id="giveaway-status">${esc(t(g.open ? "show.open" : "show.closed"))} · ${esc(t("show.entrants", {n: g.entries, eligible: g.eligible}))}</span></div>
    ${winners ? `<div id="giveaway-winners">${winners}</div>` : ""}
    <button class="cmd show-cmd" data-show="giveaway_draw" data-eligible="${g.eligible}">${esc(t(g.winners.length ? "show.draw_another" : "show.draw"))}</button>`);
}

// Timers tick here, between fetches, from the server's elapsed time plus local time since.
function tickShow() {
  const cur = show.ros && show.ros.loaded ? show.ros.current : null;
  const since = (performance.now() - show.at) / 1000;
  let badge = "";
  if (cur) {
    const left = cur.remaining_s - since;
    const el = $("ros-left");
    if (el) { put(el, "textContent", left >= 0 ? t("show.left", {time: mmss(left)}) : t("show.over", {time: mmss(-left)})); put(el, "className", left >= 0 ? "" : "overrun"); }
    const cta = $("ros-cta");
    if (cta && cur.cta) { const due = cur.cta.next_in_s - since; put(cta, "textContent", due > 0 ? t("show.reminder_in", {time: mmss(due)}) : t("show.reminder_due")); }
    badge = left >= 0 ? mmss(left) : `+${mmss(-left)}`;
  }
  const polls = show.polls || {};
  if (polls.poll && polls.poll.open) badge += " · " + t("show.badge_poll");
  if (polls.giveaway && polls.giveaway.open) badge += " · " + t("show.badge_giveaway");
  put($("show-badge"), "textContent", badge.replace(/^ · /, ""));
  segmentChip(cur, since);
}

// While a poll or giveaway is open, a segment goal is still to reach (or a show command
// was just sent) read every second, otherwise every five; the timers tick every second.
setInterval(() => {
  const p = show.polls || {};
  const cur = show.ros && show.ros.loaded ? show.ros.current : null;
  const live = (p.poll && p.poll.open) || (p.giveaway && p.giveaway.open) || Date.now() < show.burstUntil
    || !!(cur && cur.goal && !cur.goal.reached);
  if (live || ++show.ticks % 5 === 0) refreshShow();
  tickShow();
}, 1000);

$("show-tab").addEventListener("click", (e) => {
  const b = e.target.closest("[data-show]");
  if (!b) return;
  if (b.dataset.show === "giveaway_draw" && b.dataset.eligible === "0") return notify(t("show.err_no_entrants"), true);
  command(currentStream, b.dataset.show, "", b.dataset.args ? JSON.parse(b.dataset.args) : {});
});

$("poll-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const question = $("poll-question").value.trim();
  const options = $("poll-options").value.split(/[,\n]/).map(o => o.trim()).filter(Boolean);
  const folded = new Set(options.map(o => o.toLowerCase()));
  if (!question) return notify(t("show.err_question"), true);
  if (options.length < 2 || options.length > 9) return notify(t("show.err_options"), true);
  if (folded.size !== options.length) return notify(t("show.err_options_differ"), true);
  if (command(currentStream, "poll_start", "", {question, options})) { $("poll-question").value = ""; $("poll-options").value = ""; }
});

$("giveaway-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const keyword = $("giveaway-keyword").value.trim();
  if (!keyword) return notify(t("show.err_keyword"), true);
  if (command(currentStream, "giveaway_start", "", {keyword})) $("giveaway-keyword").value = "";
});
