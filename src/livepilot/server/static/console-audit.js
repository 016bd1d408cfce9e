// livepilot console: the audit view (the "Audit" tab). Who did what, when, to which
// message or user, and what the stage applied (previous → new state), newest first,
// filtered by moderator and action, in the page's language.
//
// The list is GET /api/audit (it survives restarts: the server reads it back from the
// store). It is refetched when the tab opens, shortly after a moderation frame that a
// moderator's command caused (any console's: those frames reach every console), after this
// console's own command is acknowledged, and every REFRESH_MS while the tab is open (for
// actions that send no frame to the other consoles, such as a strike). Every console role
// may read the log; a server that refuses it (or has none) hides the tab.
//
// A command is audited twice: when it was sent (the request, with the role) and when the
// stage applied it (with the states). Both are shown as one row, joined by the command id.
import {$, esc, setHTML, oneAtATime} from "./console-dom.js";
import {rows} from "./console-state.js";
import {api} from "./console-api.js";
import {t, word} from "./console-i18n.js";

const SHOWN = 200;          // rows drawn (the log itself keeps thousands)
const REFRESH_MS = 10000;   // while the tab is open
const SOON_MS = 400;        // after a frame: let the burst of a bulk action settle

let entries = [];           // the rows, newest first
let open = false;
let allowed = true;
let soon = null;

const fetchAudit = oneAtATime(async () => {
  const got = await api("/api/audit");
  if (got === null) { hide(); return; }
  entries = merge(got);
  draw();
});

// The tab is open: fetch now and keep it fresh.
export function auditOpened() { open = true; fetchAudit(); }
export function auditClosed() { open = false; }

// A moderation frame (a decision a command asked for) or this console's own ack.
export function auditSoon(msg) {
  if (!open || !allowed) return;
  if (msg && msg.type === "moderation" && !msg.command) return;  // a stage's hold
  clearTimeout(soon);
  soon = setTimeout(fetchAudit, SOON_MS);
}

setInterval(() => { if (open && allowed) fetchAudit(); }, REFRESH_MS);

function hide() {
  allowed = false;
  const button = document.querySelector('.tabs button[data-tab="audit-tab"]');
  if (button) button.hidden = true;
  setHTML($("audit"), `<span class="meta">${esc(t("audit.unavailable"))}</span>`);
}

// Requests and what was applied, one row per command, newest first.
function merge(list) {
  const byCommand = new Map();
  const out = [];
  for (const e of list) {
    if (!e || typeof e !== "object") continue;
    const key = e.command || "";
    let row = key ? byCommand.get(key) : undefined;
    if (!row) {
      row = {at: e.at, stream: e.stream, action: e.action, target: e.target, by: e.by, role: e.role,
             verified: e.verified, args: e.args || {}, applied: false, previous: null, state: null};
      if (key) byCommand.set(key, row);
      out.push(row);
    }
    if (e.applied) {
      row.applied = true; row.previous = e.previous; row.state = e.state; row.appliedAt = e.at;
      if (!row.role && e.role) row.role = e.role;
      if (!row.by) row.by = e.by;
    }
  }
  out.sort((a, b) => b.at - a.at);
  return out;
}

function options(select, values, all) {
  const keep = select.value;
  const html = `<option value="">${esc(all)}</option>` +
    values.map(([v, label]) => `<option value="${esc(v)}">${esc(label)}</option>`).join("");
  setHTML(select, html);
  select.value = values.some(([v]) => v === keep) ? keep : "";
}

function when(at) {
  const d = new Date(at * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

// The message (its author and text, when the page still has it), or the user or item.
function targetHTML(e) {
  const row = rows.get(e.target);
  if (row && row.event) {
    const user = row.event.user ? "@" + (row.event.user.unique_id || "") : "";
    return `<span class="audit-target">${esc(user)}: „${esc(String(row.event.text || "").slice(0, 120))}“</span>`;
  }
  if (e.args && e.args.handle) return `<span class="audit-target">@${esc(e.args.handle)}</span>`;
  return `<span class="audit-target mono" title="${esc(e.target)}">${esc(e.target || "—")}</span>`;
}

function outcome(e) {
  if (!e.applied) return `<span class="meta">${esc(t("audit.sent"))}</span>`;
  const from = word("state.", e.previous || "");
  const to = word("state.", e.state || "");
  return `<span class="audit-change">${esc(from)} → <b>${esc(to)}</b></span>`;
}

function draw() {
  const box = $("audit");
  if (!box) return;
  const mods = [...new Set(entries.map(e => e.by).filter(Boolean))].sort();
  const acts = [...new Set(entries.map(e => e.action).filter(Boolean))].sort();
  options($("audit-by"), mods.map(m => [m, m]), t("audit.all_moderators"));
  options($("audit-action"), acts.map(a => [a, word("act.", a)]), t("audit.all_actions"));
  const by = $("audit-by").value, action = $("audit-action").value;
  const shown = entries.filter(e => (!by || e.by === by) && (!action || e.action === action)).slice(0, SHOWN);
  if (!shown.length) { setHTML(box, `<div class="meta">${esc(t("audit.empty"))}</div>`); return; }
  setHTML(box, shown.map(e => {
    const role = e.role ? ` <span class="meta">(${esc(word("role.", e.role))}${e.verified ? " ✓" : ""})</span>` : "";
    return `<div class="item audit-entry" data-action="${esc(e.action)}" data-by="${esc(e.by)}">
      <div class="audit-head"><span class="when">${esc(when(e.at))}</span> <b class="audit-by">${esc(e.by)}</b>${role}
        <span class="label audit-action">${esc(word("act.", e.action))}</span> ${outcome(e)}</div>
      <div class="audit-what">${targetHTML(e)} <span class="meta">· ${esc(e.stream)}</span></div></div>`;
  }).join(""));
}

$("audit-by").onchange = draw;
$("audit-action").onchange = draw;
document.addEventListener("langchange", () => { if (entries.length || open) draw(); });
export const refreshAudit = fetchAudit;
