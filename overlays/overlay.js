// livepilot overlays: shared code for the OBS browser-source pages.
// livepilotOverlay(name, handlers) connects to /ws/overlay/<name> with the page's ?key=
// and calls handlers[msg.type](msg) for every message; it reconnects with backoff.
// The render helpers below build the handlers the pages combine.
"use strict";
const livepilotParams = new URLSearchParams(location.search);

function livepilotOverlay(name, handlers) {
  const key = livepilotParams.get("key") || "";
  let delay = 500;
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/overlay/${name}?key=${encodeURIComponent(key)}`);
    ws.onopen = () => { delay = 500; document.body.dataset.connected = "1"; };
    ws.onmessage = (e) => {
      for (const msg of JSON.parse(e.data)) {
        const handler = handlers[msg.type];
        if (handler) handler(msg);
      }
    };
    ws.onclose = (e) => {
      document.body.dataset.connected = "0";
      if (e.code === 1008) return;  // wrong key: retrying will not help
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
}

function livepilotEscape(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
}

function livepilotItem(list, html, {prepend = false, ttl = 0, id = "", className = "item"} = {}) {
  const el = document.createElement("div");
  el.className = className; el.innerHTML = html;
  if (id) el.id = id;
  if (prepend) list.prepend(el); else list.append(el);
  if (ttl) setTimeout(() => el.remove(), ttl * 1000);
  return el;
}

const livepilotWho = (m) => `<span class="who">${livepilotEscape(m.user.nickname || m.user.unique_id)}</span>`;

// Filtered chat: only what livepilot's verdict lets through; hidden messages disappear.
function livepilotChat(list) {
  const max = +livepilotParams.get("max") || 8;
  return {
    chat(m) {
      livepilotItem(list, `${livepilotWho(m)}${livepilotEscape(m.text)}`, {id: "m-" + m.id});
      while (list.childElementCount > max) list.firstElementChild.remove();
    },
    hide(m) { document.getElementById("m-" + m.id)?.remove(); },
  };
}

// Host prompts: each disappears when it expires (acknowledged, dismissed or stale).
function livepilotPrompts(list) {
  return {
    prompt(p) {
      document.getElementById("p-" + p.id)?.remove();
      const ttl = p.expires_at ? p.expires_at - Date.now() / 1000 : 30;
      if (ttl <= 0) return;
      livepilotItem(list, "🎤 " + livepilotEscape(p.text), {prepend: true, ttl, id: "p-" + p.id, className: "item prompt"});
    },
  };
}

// Alerts: finished gift streaks, follows and shares, each for a few seconds.
function livepilotAlerts(list) {
  const show = (html) => livepilotItem(list, html, {prepend: true, ttl: 6});
  return {
    gift(m) { if (m.final) show(`${livepilotWho(m)} ${livepilotEscape(m.gift_name)} ×${m.count} 💎${m.diamonds}`); },
    follow(m) { show(`${livepilotWho(m)} folgt jetzt ❤️`); },
    share(m) { show(`${livepilotWho(m)} hat den Live geteilt`); },
  };
}
