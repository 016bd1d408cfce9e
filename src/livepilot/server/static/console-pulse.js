// livepilot console: the stream's pulse in the header — viewers, chat, likes and diamonds
// per minute over the last ten minutes, as small line graphs drawn here (inline SVG).
//
// Counted from the events this page receives (the backlog on connect, then live), in
// 15-second buckets by the time the server received each event. Each event id is counted
// once (console-chat.js skips replays before it calls count()).
import {$, esc} from "./console-dom.js";
import {currentStream, onStreamChange} from "./console-state.js";
import {t} from "./console-i18n.js";

const BUCKET_S = 15;
const BUCKETS = 40;                           // ten minutes
const SERIES = ["viewers", "chat", "likes", "diamonds"];
const streams = new Map();                    // stream -> {buckets: Map(index -> {chat, likes, diamonds, viewers}), viewers}
let skew = null;                              // this clock minus the server's, seconds

function stream(name) {
  let s = streams.get(name);
  if (!s) { s = {buckets: new Map(), viewers: null}; streams.set(name, s); }
  return s;
}

export function count(ev) {
  if (!ev.stream) return;
  const at = ev.received || ev.at;
  if (typeof at !== "number") return;
  const off = Date.now() / 1000 - at;
  if (skew === null || off < skew) skew = off;
  const s = stream(ev.stream), i = Math.floor(at / BUCKET_S);
  let b = s.buckets.get(i);
  if (!b) {
    b = {chat: 0, likes: 0, diamonds: 0, viewers: null}; s.buckets.set(i, b);
    for (const k of s.buckets.keys()) if (k < i - BUCKETS - 4) s.buckets.delete(k);
  }
  soon();
  switch (ev.type) {
    case "chat": case "question": b.chat++; break;
    case "like": b.likes += ev.count || 0; break;
    case "gift": if (ev.final) b.diamonds += (ev.count || 0) * (ev.diamond_value || 0); break;
    case "viewers": b.viewers = ev.count; s.viewers = ev.count; break;
    default: break;
  }
}

// Per-minute values of the last BUCKETS whole buckets, and the figure shown beside them.
function series(s, name) {
  const now = Date.now() / 1000 - (skew || 0), last = Math.floor(now / BUCKET_S);
  const points = [];
  let carry = null;
  for (let i = last - BUCKETS; i < last; i++) {
    const b = s.buckets.get(i);
    if (name === "viewers") { if (b && b.viewers != null) carry = b.viewers; points.push(carry ?? 0); }
    else points.push(b ? b[name] * (60 / BUCKET_S) : 0);
  }
  let figure;
  if (name === "viewers") figure = s.viewers ?? 0;
  else {  // the last full minute: this bucket and the three before it, scaled
    let sum = 0;
    for (let i = last - 3; i <= last; i++) { const b = s.buckets.get(i); if (b) sum += b[name]; }
    figure = sum;
  }
  return {points, figure};
}

function svg(points) {
  const max = Math.max(1, ...points), n = points.length;
  const xy = points.map((v, i) => `${(i * 100 / (n - 1)).toFixed(1)},${(30 - (v / max) * 28).toFixed(1)}`).join(" ");
  return `<svg viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true"><polygon points="0,30 ${xy} 100,30"/><polyline points="${xy}"/></svg>`;
}

function fmt(n) { return n >= 10000 ? (n / 1000).toFixed(0) + "k" : n >= 1000 ? (n / 1000).toFixed(1) + "k" : String(Math.round(n)); }

// New numbers show within half a second, drawn at most twice a second.
let due = null;
function soon() { if (due === null) due = setTimeout(() => { due = null; render(); }, 500); }

export function render() {
  const box = $("pulse");
  if (!currentStream) { box.textContent = ""; return; }
  const s = stream(currentStream);
  box.innerHTML = SERIES.map(name => {
    const {points, figure} = series(s, name);
    return `<div class="spark" data-series="${name}" title="${esc(t("pulse." + name + "_title"))}"><div class="what"><span class="name">${esc(t("pulse." + name))}</span>` +
      `<span class="now">${fmt(figure)}</span></div>${svg(points)}</div>`;
  }).join("");
}
setInterval(render, 2000);
onStreamChange(render);
document.addEventListener("langchange", render);
