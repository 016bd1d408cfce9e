// livepilot console: small page helpers, and the one frame in which the page is written.

export const $ = (id) => document.getElementById(id);

export function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }

// -- the page's one write frame ---------------------------------------------------------
// Everything a busy stream changes on the page (chat rows, the review queue, the questions
// list, the pulse) is written in one animation frame, at most every FRAME_MS: a hundred
// messages a second cost ten frames of style, layout and paint a second, not one per
// message and part. A part asks with inFrame(write); each write runs once per frame, in the
// order first asked, and must only write (no layout reads) — the frame reads layout once,
// after every write, in afterFrame callbacks. Input handlers write directly: a key press or
// click shows at the next frame, not the next batch.
export const FRAME_MS = 100;
const writes = new Set(), reads = new Set();
let framed = false, frameAt = -1e9;
export function inFrame(write) {
  writes.add(write);
  if (framed) return;
  framed = true;
  const due = frameAt + FRAME_MS - performance.now();
  if (due > 0) setTimeout(() => requestAnimationFrame(runFrame), due);
  else requestAnimationFrame(runFrame);
}
// A read (or a scroll that needs one) after this frame's writes.
export function afterFrame(read) { reads.add(read); }
function runFrame() {
  framed = false; frameAt = performance.now();
  // A write may ask for another write (or itself): that one waits for the next frame.
  const now = [...writes];
  writes.clear();
  for (const write of now) {
    try { write(); } catch (e) { console.error("livepilot:", e); }
  }
  const then = [...reads];
  reads.clear();
  for (const read of then) {
    try { read(); } catch (e) { console.error("livepilot:", e); }
  }
}

export function setHTML(el, html) { if (el.dataset.html !== html) { el.innerHTML = html; el.dataset.html = html; } }
export function mmss(s) { s = Math.max(0, Math.round(s)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; }

// One read at a time: a call while one runs asks for one more read once it is done, so
// bursts of refreshes never overlap or pile up.
export function oneAtATime(read) {
  let busy = false, again = false;
  return async function run() {
    if (busy) { again = true; return; }
    busy = true;
    try { await read(); } finally { busy = false; }
    if (again) { again = false; run(); }
  };
}
