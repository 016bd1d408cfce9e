// livepilot overlays: shared code for the OBS browser-source pages.
// livepilotOverlay(name, handlers) connects to /ws/overlay/<name> with the page's ?key=
// (and ?stream=), and calls handlers[msg.type](msg) for every message; it reconnects with
// backoff. The server opens every connection with a "hello" and then the stream's state
// (poll, counters and top gifters since the stream started, the chat on screen, open
// prompts): handlers.reset() runs on each hello, so a reconnect or an OBS reload rebuilds
// the page from that state, with nothing lost and nothing twice. A page whose handlers have
// resumeQuery() adds what it returns to each connection's query (the alert overlay names
// the last alert it showed, and gets the ones it missed replayed after the state).
// URL parameters every page reads: key, stream, theme (dark|light), lang (de|en),
// size (scale, 0.5–3). The render helpers below build the handlers the pages combine.
"use strict";
const livepilotParams = new URLSearchParams(location.search);

function livepilotParam(name, fallback) {
  const v = livepilotParams.get(name);
  return v === null || v === "" ? fallback : v;
}

function livepilotNumber(name, fallback, min = -Infinity, max = Infinity) {
  const v = Number(livepilotParams.get(name));
  return livepilotParams.get(name) === null || !Number.isFinite(v) ? fallback : Math.min(max, Math.max(min, v));
}

const livepilotLang = livepilotParam("lang", "de") === "en" ? "en" : "de";
const livepilotText = {
  de: {follow: "folgt jetzt", share: "hat den Live geteilt", sent: "schickt", vote: "Stimme", votes: "Stimmen",
       type: "tippe", result: "Ergebnis", entrant: "Teilnehmer", entrants: "Teilnehmende", ended: "beendet",
       write: "Schreib", inChat: "in den Chat", leaders: "Top-Unterstützer", empty: "Noch keine Geschenke",
       goal: "Ziel", likes: "Likes", diamonds: "Diamanten", follows: "Follower", segment: "Segment",
       left: "noch", over: "überzogen", next: "Danach", noPrompts: "Keine Hinweise", noPlan: "Kein Ablaufplan"},
  en: {follow: "is now following", share: "shared the LIVE", sent: "sent", vote: "vote", votes: "votes",
       type: "type", result: "result", entrant: "entrant", entrants: "entrants", ended: "ended",
       write: "Type", inChat: "in the chat", leaders: "Top supporters", empty: "No gifts yet",
       goal: "Goal", likes: "likes", diamonds: "diamonds", follows: "followers", segment: "Segment",
       left: "left", over: "over time", next: "Next", noPrompts: "No prompts", noPlan: "No run-of-show"},
}[livepilotLang];

(function livepilotLook() {
  const root = document.documentElement;
  root.lang = livepilotLang;
  root.dataset.theme = livepilotParam("theme", "dark") === "light" ? "light" : "dark";
  root.style.setProperty("--scale", String(livepilotNumber("size", 1, 0.5, 3)));
})();

function livepilotOverlay(name, handlers) {
  const key = livepilotParam("key", livepilotParam("token", ""));
  const stream = livepilotParam("stream", "");
  let delay = 500;
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const query = `key=${encodeURIComponent(key)}` + (stream ? `&stream=${encodeURIComponent(stream)}` : "") +
      (handlers.resumeQuery ? handlers.resumeQuery() : "");
    const ws = new WebSocket(`${proto}://${location.host}/ws/overlay/${name}?${query}`);
    ws.onopen = () => { delay = 500; document.body.dataset.connected = "1"; };
    ws.onmessage = (e) => {
      for (const msg of JSON.parse(e.data)) {
        if (msg.type === "hello") {
          document.body.dataset.epoch = msg.epoch;
          if (handlers.reset) handlers.reset(msg);
          continue;
        }
        const handler = handlers[msg.type];
        if (handler) handler(msg);
      }
    };
    ws.onclose = (e) => {
      document.body.dataset.connected = "0";
      if (e.code === 1008) { document.body.dataset.refused = e.reason; return; }  // wrong key: retrying will not help
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
}

// Several render helpers on one page: every handler of the same message type runs.
function livepilotCombine(...parts) {
  const out = {};
  for (const part of parts) {
    for (const [type, fn] of Object.entries(part)) {
      const before = out[type];
      out[type] = before ? (m) => { before(m); fn(m); } : fn;
    }
  }
  return out;
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

const livepilotName = (u) => u.nickname || u.unique_id;
const livepilotWho = (m) => `<span class="who">${livepilotEscape(livepilotName(m.user))}</span>`;
const livepilotFormat = (n) => Number(n).toLocaleString(livepilotLang === "de" ? "de-DE" : "en-US");

// Filtered chat: only what livepilot's verdict lets through; hidden messages disappear.
// ?max=8 messages on screen.
function livepilotChat(list) {
  const max = livepilotNumber("max", 8, 1, 50);
  return {
    reset() { list.replaceChildren(); },
    chat(m) {
      if (document.getElementById("m-" + m.id)) return;  // already on screen
      livepilotItem(list, `${livepilotWho(m)}${livepilotEscape(m.text)}`, {id: "m-" + m.id});
      while (list.childElementCount > max) list.firstElementChild.remove();
    },
    hide(m) { document.getElementById("m-" + m.id)?.remove(); },
  };
}

// Host prompts (backstage only): the most important first; each disappears when it
// expires (acknowledged, dismissed or stale). ?max=4 on screen.
function livepilotPrompts(list) {
  const max = livepilotNumber("max", 4, 1, 20);
  const open = new Map();  // id -> {p, timer}
  function render() {
    const shown = [...open.values()].map(o => o.p)
      .sort((a, b) => b.priority - a.priority || b.at - a.at).slice(0, max);
    list.replaceChildren(...shown.map(p => {
      const el = document.createElement("div");
      el.className = `item prompt prio-${p.priority}`; el.id = "p-" + p.id;
      el.textContent = p.text;
      return el;
    }));
    list.dataset.empty = shown.length ? "0" : "1";
  }
  return {
    reset() { for (const o of open.values()) clearTimeout(o.timer); open.clear(); render(); },
    prompt(p) {
      const before = open.get(p.id);
      if (before) clearTimeout(before.timer);
      open.delete(p.id);
      const ttl = p.expires_at ? p.expires_at - Date.now() / 1000 : 30;
      if (ttl > 0) open.set(p.id, {p, timer: setTimeout(() => { open.delete(p.id); render(); }, ttl * 1000)});
      render();
    },
  };
}

// Alerts: one at a time, in order. Gift streaks show once, at the streak's end, with the
// total. ?min=<diamonds> (threshold, default 1), ?duration=<s> (default 5), ?sound=<url>
// and ?image=<url> (yours, or a file on this server), ?follows=0 / ?shares=0 to leave
// those out, ?queue=<n> waiting at most (default 20; beyond it the smallest gift goes).
// Alerts missed while the page was away (a network blip, an OBS scene switch or reload)
// play after it is back, once, in order: the page remembers the last alert it showed
// (localStorage, per overlay URL) and the server replays what came after, from at most
// ?replay=<s> back (default 120, 0: never) and at most ?replay_max=<n> (default 20). A new
// source starts from now: it shows nothing from before it first connected.
function livepilotAlerts(box) {
  const min = livepilotNumber("min", 1, 0);
  const duration = livepilotNumber("duration", 5, 1, 60) * 1000;
  const cap = livepilotNumber("queue", 20, 1, 200);
  const sound = livepilotParam("sound", "");
  const image = livepilotParam("image", "");
  const follows = livepilotParam("follows", "1") !== "0";
  const shares = livepilotParam("shares", "1") !== "0";
  const replay = livepilotNumber("replay", 120, 0, 600);
  const replayMax = livepilotNumber("replay_max", 20, 0, 200);
  const queue = [];
  const seen = new Set();
  let playing = false;
  const audio = sound ? new Audio(sound) : null;
  const mark = () => { document.body.dataset.queued = String(queue.length); };

  // Where this overlay is, per stream, in the server run ``epoch``: ``shown`` the newest
  // alert seq on screen so far (kept across reloads), ``received`` the newest that reached
  // this page (its queue still holds the rest after a reconnect).
  const storeKey = "livepilot:alerts:" + location.pathname + location.search;
  let place = {epoch: "", shown: {}};
  try { place = Object.assign(place, JSON.parse(localStorage.getItem(storeKey) || "{}")); } catch (e) { /* none kept */ }
  let received = {};
  const save = () => { try { localStorage.setItem(storeKey, JSON.stringify(place)); } catch (e) { /* private mode */ } };

  function resumeQuery() {
    const since = {...place.shown, ...received};
    const pairs = Object.entries(since).map(([s, seq]) => `${encodeURIComponent(s)}:${seq}`);
    const tail = `&replay=${Math.round(replay)}&replay_max=${Math.round(replayMax)}`;
    return place.epoch && pairs.length ? `&epoch=${encodeURIComponent(place.epoch)}&since=${pairs.join(",")}${tail}` : tail;
  }

  function reset(hello) {
    if (hello.epoch !== place.epoch) {  // a new page or a new server run: start from now
      place = {epoch: hello.epoch, shown: {}};
      received = {};
    }
    for (const [s, info] of Object.entries(hello.streams || {})) {
      if (!(s in place.shown)) place.shown[s] = info.head;
      received[s] = Math.max(received[s] || 0, info.head);
    }
    save();
  }

  // An alert at or below what this overlay already showed (before a reload) is a repeat.
  function already(m) {
    return m.seq !== undefined && m.stream !== undefined && m.seq <= (place.shown[m.stream] ?? -1);
  }

  function enqueue(alert) {
    if (seen.has(alert.id)) return;
    seen.add(alert.id);
    if (seen.size > 2000) seen.delete(seen.values().next().value);
    queue.push(alert);
    if (queue.length > cap) {  // the smallest waiting alert makes room
      let low = 0;
      queue.forEach((a, i) => { if (a.value < queue[low].value) low = i; });
      queue.splice(low, 1);
    }
    mark();
    if (!playing) next();
  }

  function next() {
    const alert = queue.shift();
    mark();
    if (!alert) { playing = false; box.replaceChildren(); return; }
    playing = true;
    const pic = image ? `<img class="pic" src="${livepilotEscape(image)}" alt="">` : "";
    box.replaceChildren();
    const el = livepilotItem(box, `${pic}<div class="body">${alert.html}</div>`, {className: "item alert"});
    el.dataset.alert = alert.id;
    if (alert.seq !== undefined && alert.stream !== undefined) {
      place.shown[alert.stream] = Math.max(place.shown[alert.stream] || 0, alert.seq);
      save();
    }
    if (audio) { audio.currentTime = 0; audio.play().catch(() => {}); }
    setTimeout(next, duration);
  }

  // Every alert message counts as received; only a new one above the threshold queues.
  function take(m, alert) {
    if (m.seq !== undefined && m.stream !== undefined) received[m.stream] = Math.max(received[m.stream] || 0, m.seq);
    if (alert && !already(m)) enqueue({...alert, seq: m.seq, stream: m.stream});
  }

  return {
    reset, resumeQuery,
    gift(m) {
      if (!m.final) return;
      take(m, m.diamonds < min ? null : {id: "g-" + m.id, value: m.diamonds,
               html: `<div class="big">${livepilotWho(m)}</div><div>${livepilotText.sent} ` +
                     `${livepilotEscape(m.gift_name)}${m.count > 1 ? " ×" + m.count : ""} · 💎 ${livepilotFormat(m.diamonds)}</div>`});
    },
    follow(m) {
      take(m, !follows ? null : {id: "f-" + m.user.unique_id, value: 0,
                                 html: `<div class="big">${livepilotWho(m)}</div><div>${livepilotText.follow} ❤️</div>`});
    },
    share(m) {
      take(m, !shares ? null : {id: "s-" + m.id, value: 0,
                                html: `<div class="big">${livepilotWho(m)}</div><div>${livepilotText.share}</div>`});
    },
  };
}

// Counters since the stream started (viewers now, likes, diamonds, follows).
function livepilotStats(el) {
  return {
    counters(c) {
      el.querySelector("[data-k=viewers]").textContent = livepilotFormat(c.viewers);
      el.querySelector("[data-k=likes]").textContent = livepilotFormat(c.likes);
      el.querySelector("[data-k=diamonds]").textContent = livepilotFormat(c.diamonds);
    },
  };
}

// Goal bar, one of two kinds:
// - ?target=<n> (a number) &metric=likes|diamonds|follows &title=<text>: a fixed goal,
//   counted since the stream started;
// - no ?target (or ?target=show): the run-of-show's goal for the running segment (its
//   metric, target and label), counted since the segment started; hidden while the
//   running segment has none. The server sends it with the state, so a reload mid-segment
//   shows the same bar.
function livepilotGoal(el) {
  const METRICS = ["likes", "diamonds", "follows"];
  const ICONS = {likes: "❤️", diamonds: "💎", follows: "➕"};
  const fixed = livepilotParam("target", "show") !== "show";
  const urlMetric = METRICS.includes(livepilotParam("metric", "")) ? livepilotParam("metric", "") : "likes";
  const urlTarget = livepilotNumber("target", 1000, 1);
  el.dataset.mode = fixed ? "fixed" : "show";

  function draw(metric, target, value, title) {
    el.querySelector(".title").textContent = title || `${livepilotText.goal}: ${livepilotFormat(target)} ${livepilotText[metric]}`;
    el.querySelector(".fill").style.width = Math.min(100, 100 * value / target).toFixed(1) + "%";
    el.querySelector(".value").textContent = `${ICONS[metric]} ${livepilotFormat(value)} / ${livepilotFormat(target)}`;
    el.classList.toggle("reached", value >= target);
    el.dataset.state = "on";
  }

  if (fixed) {
    draw(urlMetric, urlTarget, 0, livepilotParam("title", ""));
    return { counters(c) { draw(urlMetric, urlTarget, c[urlMetric] || 0, livepilotParam("title", "")); } };
  }
  el.dataset.state = "idle";
  return {
    reset() { el.dataset.state = "idle"; },
    goal(g) {
      if (!g.active || !METRICS.includes(g.metric) || !(g.target > 0)) { el.dataset.state = "idle"; return; }
      draw(g.metric, g.target, g.value, g.label);
      el.dataset.segment = g.segment || "";
    },
  };
}

// Top gifters since the stream started: ?top=5 rows.
function livepilotLeaders(el) {
  const top = livepilotNumber("top", 5, 1, 10);
  el.querySelector(".title").textContent = "🏆 " + livepilotText.leaders;
  return {
    leaders(m) {
      const rows = m.leaders.slice(0, top);
      el.querySelector(".rows").innerHTML = rows.length ? rows.map((l, i) =>
        `<div class="row"><span class="rank">${i + 1}</span><span class="who">${livepilotEscape(l.nickname || l.unique_id)}</span>` +
        `<span class="amount">💎 ${livepilotFormat(l.diamonds)}</span></div>`).join("")
        : `<div class="row muted">${livepilotText.empty}</div>`;
    },
  };
}

// Poll and giveaway from chat: the question with live bars (share of all votes), or the
// keyword to type with the entrant count; then the result (the leading option lit) or the
// winner. Only counts and drawn winners ever arrive here, never who voted or entered.
// One panel per stream and kind; a finished one stays ?linger= seconds (default 60) after
// it closed, also across a reload (a closed poll shows closed, not open).
function livepilotTally(box) {
  const linger = livepilotNumber("linger", 60, 0, 86400) * 1000;
  const panels = new Map();  // stream + kind -> {el, id, timer}
  const esc = livepilotEscape;
  const T = livepilotText;

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
      `<div class="keyword">${T.write} <b>${esc(t.keyword)}</b> ${T.inChat}</div>` +
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
    el.querySelector(".meta").textContent = `${t.voters} ${t.voters === 1 ? T.vote : T.votes}` +
      (t.open ? ` · ${T.type} ${t.options.map((_, i) => "!" + (i + 1)).slice(0, 3).join(", ")}${t.options.length > 3 ? " …" : ""}` : ` · ${T.result}`);
  }

  function updateGiveaway(el, t) {
    el.querySelector(".entries").textContent = `${t.entries} ${t.entries === 1 ? T.entrant : T.entrants}`;
    el.querySelector(".state").textContent = t.open ? "" : "· " + T.ended;
    el.querySelector(".keyword").hidden = !t.open;
    el.querySelector(".winner").textContent = t.winners.length ? "🎉 " + t.winners.map(w => "@" + w).join(" · ") : "";
  }

  function drop(p) {
    clearTimeout(p.timer);
    p.el.remove();
    for (const [key, q] of panels) if (q === p) panels.delete(key);
  }

  return {
    reset() { for (const p of [...panels.values()]) drop(p); },
    tally(t) {
      // A result that closed longer ago than ?linger= (stream time) is not shown again.
      const left = t.open ? 0 : linger - Math.max(0, Date.now() - t.at * 1000);
      if (!t.open && left <= 0 && !panels.has(t.stream + "\u0000" + t.kind)) return;
      const p = panelFor(t);
      p.el.classList.toggle("closed", !t.open);
      if (t.kind === "poll") updatePoll(p.el, t); else updateGiveaway(p.el, t);
      clearTimeout(p.timer);
      if (!t.open) p.timer = setTimeout(() => drop(p), Math.max(0, Math.min(left, linger)));
    },
  };
}

// The run-of-show on the host screen: the current segment, its timer (counting locally
// between polls of /overlay-show every 5 s) and what comes next.
function livepilotShow(el) {
  const key = livepilotParam("key", livepilotParam("token", ""));
  let stream = livepilotParam("stream", "");
  let state = null, fetchedAt = 0;
  const T = livepilotText;
  const clock = (s) => { const a = Math.abs(Math.round(s)); return `${s < 0 ? "+" : ""}${Math.floor(a / 60)}:${String(a % 60).padStart(2, "0")}`; };

  function draw() {
    const cur = state && state.current;
    el.dataset.state = cur ? (cur.overrun ? "over" : "on") : "none";
    if (!cur) { el.querySelector(".name").textContent = T.noPlan; el.querySelector(".timer").textContent = ""; el.querySelector(".next").textContent = ""; return; }
    const remaining = cur.remaining_s - (Date.now() - fetchedAt) / 1000;
    el.dataset.state = remaining < 0 ? "over" : remaining < 60 ? "ending" : "on";
    el.querySelector(".name").textContent = `${T.segment} ${cur.index + 1}: ${cur.name}`;
    el.querySelector(".timer").textContent = remaining < 0 ? `${clock(-remaining)} ${T.over}` : `${clock(remaining)} ${T.left}`;
    const next = state.next;
    el.querySelector(".next").textContent = next ? `${T.next}: ${next.name || next}` : "";
  }

  async function poll() {
    if (!stream) return;
    try {
      const r = await fetch(`/overlay-show/${encodeURIComponent(stream)}?key=${encodeURIComponent(key)}`, {cache: "no-store"});
      if (r.ok) { state = await r.json(); fetchedAt = Date.now(); }
    } catch (e) { /* keep counting from the last answer */ }
    draw();
  }
  setInterval(draw, 1000);
  setInterval(poll, 5000);
  return {
    reset(hello) {
      if (!stream) stream = hello.stream || Object.keys(hello.streams)[0] || "";
      poll();
    },
  };
}

// Question spotlight: the message a moderator pinned in the console, until it is unpinned
// (or hidden). Only visible messages are ever pinned; the server refuses the rest.
function livepilotSpotlight(box) {
  let current = "";
  return {
    reset() { current = ""; box.replaceChildren(); },
    spotlight(s) {
      if (!s.pinned) { if (s.id === current) { current = ""; box.replaceChildren(); } return; }
      current = s.id;
      box.replaceChildren();
      const who = s.user ? `<div class="who">${livepilotEscape(livepilotName(s.user))}</div>` : "";
      const el = livepilotItem(box, `${who}<div class="text">${livepilotEscape(s.text)}</div>`, {className: "item spotlight"});
      el.dataset.pinned = s.id;
    },
  };
}
