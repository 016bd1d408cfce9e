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

// Poll and giveaway from chat: the question with live bars (share of all votes), or the
// keyword to type with the entrant count; then the result (the leading option lit) or the
// winner. Only counts and drawn winners ever arrive here, never who voted or entered.
// One panel per stream and kind; a finished one stays ?linger= seconds (default 60).
function livepilotTally(box) {
  const linger = (+livepilotParams.get("linger") || 60) * 1000;
  const panels = new Map();  // stream + kind -> {el, id, timer}
  const esc = livepilotEscape;

  function panelFor(t) {
    const key = t.stream + "\u0000" + t.kind;
    let p = panels.get(key);
    if (p && p.id === t.id) return p;
    if (p) { clearTimeout(p.timer); p.el.remove(); }
    const el = livepilotItem(box, t.kind === "poll" ? pollHTML(t) : giveawayHTML(t), {className: `item tally ${t.kind}`});
    el.dataset.tally = t.id;
    p = {el, id: t.id, timer: 0};
    panels.set(key, p);
    return p;
  }

  function pollHTML(t) {
    const bars = t.options.map((o, i) => `<div class="bar" data-option="${i + 1}"><span class="fill"></span>` +
      `<span class="label">${i + 1} · ${esc(o.option)}</span><span class="pct"></span></div>`).join("");
    return `<div class="title">📊 ${esc(t.title)}</div>${bars}<div class="meta"></div>`;
  }

  function giveawayHTML(t) {
    return `<div class="title">🎁 ${esc(t.title || "Giveaway")}</div>` +
      `<div class="keyword">Schreib <b>${esc(t.keyword)}</b> in den Chat</div>` +
      `<div class="meta"><span class="entries"></span> <span class="state"></span></div><div class="winner"></div>`;
  }

  function updatePoll(el, t) {
    const top = Math.max(...t.options.map(o => o.votes));
    t.options.forEach((o, i) => {
      const bar = el.querySelector(`.bar[data-option="${i + 1}"]`);
      if (!bar) return;
      const pct = Math.round(100 * o.share);
      bar.querySelector(".fill").style.width = (100 * o.share).toFixed(1) + "%";  // CSS animates it
      bar.querySelector(".pct").textContent = `${pct} %`;
      bar.classList.toggle("win", !t.open && top > 0 && o.votes === top);
    });
    el.querySelector(".meta").textContent = `${t.voters} ${t.voters === 1 ? "Stimme" : "Stimmen"}` +
      (t.open ? ` · tippe ${t.options.map((_, i) => "!" + (i + 1)).slice(0, 3).join(", ")}${t.options.length > 3 ? " …" : ""}` : " · Ergebnis");
  }

  function updateGiveaway(el, t) {
    el.querySelector(".entries").textContent = `${t.entries} ${t.entries === 1 ? "Teilnehmer" : "Teilnehmende"}`;
    el.querySelector(".state").textContent = t.open ? "" : "· beendet";
    el.querySelector(".keyword").hidden = !t.open;
    el.querySelector(".winner").textContent = t.winners.length ? "🎉 " + t.winners.map(w => "@" + w).join(" · ") : "";
  }

  return {
    tally(t) {
      const p = panelFor(t);
      p.el.classList.toggle("closed", !t.open);
      if (t.kind === "poll") updatePoll(p.el, t); else updateGiveaway(p.el, t);
      clearTimeout(p.timer);
      if (!t.open) {
        p.timer = setTimeout(() => {
          p.el.remove();
          for (const [key, q] of panels) if (q === p) panels.delete(key);
        }, linger);
      }
    },
  };
}
