// livepilot console: the question queue, read every two seconds with the header's
// stream summary and scorer states (and the watch list while its tab is open).
import {$, esc} from "./console-dom.js";
import {currentStream} from "./console-state.js";
import {api} from "./console-api.js";
import {command} from "./console-commands.js";
import {refreshWatch} from "./console-users.js";

export async function refreshPanels() {
  if (!currentStream) return;
  const base = `/api/streams/${encodeURIComponent(currentStream)}`;
  const queue = await api(base + "/questions");
  if (queue) {
    const open = queue.filter(q => q.state === "open" || q.state === "claimed").sort((a, b) => b.count - a.count);
    $("queue").innerHTML = open.slice(0, 30).map(q => `<div class="item" data-id="${esc(q.id)}">
      <span class="count">${q.count}×</span>${esc(q.text)} <span class="label ${esc(q.label)}">${esc(q.label)}${q.kind ? ":" + esc(q.kind) : ""}</span>
      ${q.suggestion ? `<span class="meta">💡 ${esc(q.suggestion.answer || q.suggestion)}</span>` : ""}
      <span class="meta">${q.askers.slice(0, 5).map(a => "@" + esc(a)).join(", ")}${q.state === "claimed" ? " · claimed by " + esc(q.claimed_by) : ""}</span>
      <button data-act="claim">claim</button> <button data-act="answer">answered</button> <button data-act="dismiss">dismiss</button></div>`).join("");
    for (const b of $("queue").querySelectorAll("button")) b.onclick = () => command(currentStream, b.dataset.act, b.closest(".item").dataset.id);
  }
  const s = await api(base + "/summary");
  if (s) $("summary").textContent = `👀 ${s.viewers_now} (peak ${s.peak_viewers}) · 💬 ${s.chat_messages} · 💎 ${s.diamonds ?? s.diamonds_total ?? 0} · engagement ${(100 * (s.engagement_rate || 0)).toFixed(0)} %`;
  if (!$("watch-tab").hidden) refreshWatch(base);
  const tox = await api(base + "/toxicity");
  if (tox) $("scorers").innerHTML = tox.map(t => `<span class="${t.available ? "" : "down"}" title="${esc(t.reason || "")}">${esc(t.scorer)} ${t.available ? "✓" : "✗"}</span>`).join(" ");
}
setInterval(refreshPanels, 2000);
