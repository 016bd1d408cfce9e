// livepilot console: the stream's pulse in the header — viewers, chat, likes and diamonds
// per minute over the last ten minutes, as small line graphs drawn here (inline SVG).
// The graphs are built once per stream and language; after that, once a second in the
// page's write frame, only a figure or a line that changed is written (a busy chat changes
// the header once a second, not with every message).
//
// Counted from the events this page receives (the backlog on connect, then live), in
// 15-second buckets by the time the server received each event. Each event id is counted
// once (console-chat.js skips replays before it calls count()).
import {$, esc, inFrame} from "./console-dom.js";
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

function line(points) {
  const max = Math.max(1, ...points), n = points.length;
  return points.map((v, i) => `${(i * 100 / (n - 1)).toFixed(1)},${(30 - (v / max) * 28).toFixed(1)}`).join(" ");
}

function fmt(n) { return n >= 10000 ? (n / 1000).toFixed(0) + "k" : n >= 1000 ? (n / 1000).toFixed(1) + "k" : String(Math.round(n)); }

let built = null;   // {stream, parts: Map(series -> {now, line, area, figure, xy})} as on the page

// The header's graphs from scratch (a new stream, a new language), then their values.
export function render() { built = null; draw(); }

function build(box) {
  box.innerHTML = SERIES.map(name => `<div class="spark" data-series="${name}" title="${esc(t("pulse." + name + "_title"))}"><div class="what"><span class="name">${esc(t("pulse." + name))}</span>` +
    `<span class="now"></span></div><svg viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true"><polygon/><polyline/></svg></div>`).join("");
  const parts = new Map();
  for (const el of box.children) {
    parts.set(el.dataset.series, {now: el.querySelector(".now"), line: el.querySelector("polyline"), area: el.querySelector("polygon"), figure: null, xy: null});
  }
  built = {stream: currentStream, parts};
}

function draw() {
  const box = $("pulse");
  if (!currentStream) { if (box.firstChild) box.textContent = ""; built = null; return; }
  if (!built || built.stream !== currentStream) build(box);
  const s = stream(currentStream);
  for (const name of SERIES) {
    const {points, figure} = series(s, name), part = built.parts.get(name);
    const text = fmt(figure), xy = line(points);
    if (part.figure !== text) { part.now.textContent = text; part.figure = text; }
    if (part.xy !== xy) { part.line.setAttribute("points", xy); part.area.setAttribute("points", `0,30 ${xy} 100,30`); part.xy = xy; }
  }
}
setInterval(() => inFrame(draw), 1000);
onStreamChange(render);
document.addEventListener("langchange", render);
