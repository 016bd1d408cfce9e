// livepilot console: the question queue (one entry per cluster of the same question, with
// claim / answered / dismiss), read every two seconds with the scorer states (and the
// watch list while its tab is open). Drawn in the page's write frame, with the chat's batch.
import {$, esc, inFrame, setHTML} from "./console-dom.js";
import {currentStream} from "./console-state.js";
import {api} from "./console-api.js";
import {command} from "./console-commands.js";
import {refreshWatch} from "./console-users.js";
import {labelName, t} from "./console-i18n.js";

let lastQueue = null;

export async function refreshPanels() {
  if (!currentStream) return;
  const base = `/api/streams/${encodeURIComponent(currentStream)}`;
  const queue = await api(base + "/questions");
  if (queue) { lastQueue = queue; inFrame(renderQueue); }
  if (!$("watch-tab").hidden) refreshWatch(base);
  const tox = await api(base + "/toxicity");
  if (tox) inFrame(() => setHTML($("scorers"), tox.map(s => `<span class="${s.available ? "" : "down"}" title="${esc(s.reason || "")}">${esc(s.scorer)} ${s.available ? "✓" : "✗"}</span>`).join(" ")));
}

function renderQueue() {
  const open = lastQueue.filter(q => q.state === "open" || q.state === "claimed").sort((a, b) => b.count - a.count);
  const b = (act, key) => `<button data-act="${act}">${esc(t(key))}</button>`;
  setHTML($("queue"), open.length ? open.slice(0, 30).map(q => `<div class="item" data-id="${esc(q.id)}">
    <span class="count">${q.count}×</span>${esc(q.text)} <span class="label ${esc(q.label)}">${esc(labelName(q.label, q.kind))}</span>
    ${q.suggestion ? `<span class="meta">💡 ${esc(q.suggestion.answer || q.suggestion)}</span>` : ""}
    <span class="meta">${q.askers.slice(0, 5).map(a => "@" + esc(a)).join(", ")}${q.state === "claimed" ? " · " + esc(t("questions.claimed_by", {by: q.claimed_by})) : ""}</span>
    <span class="acts">${b("claim", "questions.claim")}${b("answer", "questions.answered")}${b("dismiss", "questions.dismiss")}</span></div>`).join("")
    : `<span class="meta">${esc(t("questions.none"))}</span>`);
}

$("queue").addEventListener("click", (e) => {
  const btn = e.target.closest("button[data-act]");
  const item = btn && btn.closest(".item");
  if (item) command(currentStream, btn.dataset.act, item.dataset.id);
});
document.addEventListener("langchange", () => { if (lastQueue) renderQueue(); });
setInterval(refreshPanels, 2000);
