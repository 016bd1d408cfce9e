// livepilot console: the user panel and the watch list.
import {$, esc, oneAtATime, setHTML} from "./console-dom.js";
import {currentStream, rows} from "./console-state.js";
import {api} from "./console-api.js";
import {command} from "./console-commands.js";
import {labelsHTML, rowState} from "./console-chat.js";
import {localise, t, word} from "./console-i18n.js";

// -- the user panel: one user's messages, strike score and local block ------------------
// Opened from any @handle. The messages are the rows this page already holds; the state
// is GET /api/streams/{stream}/users/{id}, read when the panel opens and again after each
// command's ack. An ack means the command is on its way to the stages, not applied yet, so
// the state is read a few times over the next seconds (and every few seconds while open).
export const USER_ACTIONS = new Set(["strike", "pardon", "block", "unblock"]);
export const userPanel = {user: null, stream: null, burstUntil: 0, ticks: 0};

document.addEventListener("click", (e) => {
  const el = e.target.closest(".who[data-user]");
  if (el) openUser(el.dataset.stream, {id: el.dataset.user, unique_id: el.dataset.handle, nickname: el.dataset.nick});
});
$("user-close").onclick = () => closeUser();
$("user-shade").onclick = () => closeUser();
$("user-actions").addEventListener("click", (e) => {
  const b = e.target.closest("[data-user-act]");
  if (!b || !userPanel.user) return;
  const act = b.dataset.userAct;
  const args = act === "strike" ? {points: 1, handle: userPanel.user.unique_id} : {};
  command(userPanel.stream, act, userPanel.user.id, args);
});

function openUser(stream, user) {
  const same = userPanel.user && userPanel.user.id === user.id && userPanel.stream === stream;
  userPanel.user = user; userPanel.stream = stream;
  $("user-handle").textContent = "@" + user.unique_id;
  $("user-nick").textContent = user.nickname && user.nickname !== user.unique_id ? user.nickname : "";
  if (!same) {
    $("user-score").textContent = "…"; $("user-score").className = "";
    for (const id of ["user-hits", "user-step", "user-blocked"]) $(id).textContent = "";
  }
  $("user-panel").hidden = false; $("user-shade").hidden = false;
  renderUserMessages();
  refreshUser();
  $("user-close").focus();
}

export function closeUser() {
  userPanel.user = null; userPanel.stream = null;
  $("user-panel").hidden = true; $("user-shade").hidden = true;
}

export function renderUserMessages() {
  const user = userPanel.user;
  if (!user) return;
  const mine = [...rows.values()].filter(r => r.event.user.id === user.id && r.event.stream === userPanel.stream).reverse();
  setHTML($("user-messages"), mine.length ? mine.map(r => {
    const ins = r.insight;
    const labels = ins ? labelsHTML(ins.labels) : "";
    const state = rowState(r), hidden = state !== "visible";
    const flagged = ins && ins.labels.some(l => l.name === "toxic" || l.name === "spam");
    const when = new Date(r.event.at * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
    return `<div class="msg${hidden ? " hidden" : ""}${flagged ? " flagged" : ""}" data-id="${esc(r.event.id)}">
      <span class="meta">${esc(when)}</span><span class="text">${esc(r.event.text)}</span>${labels}${hidden ? ` <span class="label">${esc(word("state.", state))}</span>` : ""}</div>`;
  }).join("") : `<span class="meta">${esc(t("user.no_messages", {user: "@" + user.unique_id}))}</span>`);
}

const refreshUser = oneAtATime(async () => {
  if (!userPanel.user) return;
  const {id} = userPanel.user, stream = userPanel.stream;
  const state = await api(`/api/streams/${encodeURIComponent(stream)}/users/${encodeURIComponent(id)}`);
  if (userPanel.user && userPanel.user.id === id && userPanel.stream === stream) renderUserState(state);
});

function renderUserState(s) {
  if (!s) {
    $("user-score").textContent = t("user.score_unavailable"); $("user-score").className = "";
    return;
  }
  $("user-score").textContent = s.score > 0 ? t("user.score", {score: s.score.toFixed(1)}) : t("user.no_strikes");
  $("user-score").className = s.hidden ? "hot" : "";
  $("user-hits").textContent = s.hits ? t("user.hits", {n: s.hits}) : "";
  $("user-step").textContent = s.score > 0 ? localise(s.reason) : "";  // "… (2 hits in 1 min) → hide from overlays"
  $("user-blocked").textContent = s.blocked ? t("user.blocked_by", {by: s.blocked_by})
    : (s.hidden ? t("user.hidden_until_decay") : t("user.not_blocked"));
  $("user-blocked").className = "reason" + (s.blocked ? " on" : "");
}

export function userBurst() { userPanel.burstUntil = Date.now() + 3000; refreshUser(); }
setInterval(() => {
  if (!userPanel.user) return;
  if (Date.now() < userPanel.burstUntil || ++userPanel.ticks % 8 === 0) refreshUser();
}, 250);

// -- the watch list ------------------------------------------------------------------
// The users to keep an eye on: local blocks first, then the highest strike scores.
export async function refreshWatch(base) {
  const users = await api(base + "/users");
  if (!users) return setHTML($("watch"), `<span class="meta">${esc(t("watch.unavailable"))}</span>`);
  setHTML($("watch"), users.length ? users.map(u => {
    const handle = u.handle || u.user_id;
    return `<div class="item watch"><span class="who" data-user="${esc(u.user_id)}" data-stream="${esc(currentStream)}" data-handle="${esc(handle)}" data-nick="" title="${esc(t("user.open", {user: "@" + handle}))}">@${esc(handle)}</span>
      <span class="count">${u.score.toFixed(1)}</span>${u.blocked ? `<span class="label toxic">${esc(t("watch.blocked_by", {by: u.blocked_by}))}</span>` : ""}
      <span class="meta">${esc(localise(u.reason))}</span></div>`;
  }).join("") : `<span class="meta">${esc(t("watch.nobody"))}</span>`);
}

document.addEventListener("langchange", () => { if (userPanel.user) { renderUserMessages(); refreshUser(); } });
