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
//
// A write whose work grows with the message rate (the chat) gets SLICE_MS of script a
// frame: a slow or busy machine must not turn one frame into a task long enough to hold up
// a key press. It does its work in parts, checks overBudget() between parts and returns
// MORE for the rest. The other writes are small and bounded (30 review items, a few
// questions, the pulse) and always run. A frame with work left over is followed by another
// CATCH_UP_MS later (not FRAME_MS): a backlog is worked off twice as fast, in bounded steps,
// without paying a frame's fixed cost (style, layout and paint of the page) at the display's
// rate on a machine that is already behind.
export const FRAME_MS = 100;
export const SLICE_MS = 8;
export const CATCH_UP_MS = 50;
export const MORE = true;
let writes = new Set();
const reads = new Set();
let framed = false, running = false, frameAt = -1e9, sliceEnd = 0;
export function inFrame(write) {
  writes.add(write);
  schedule(false);
}
function schedule(soon) {
  if (framed || running) return;  // a frame running schedules the next one when it ends
  framed = true;
  const due = frameAt + (soon ? CATCH_UP_MS : FRAME_MS) - performance.now();
  if (due > 0) setTimeout(() => requestAnimationFrame(runFrame), due);
  else requestAnimationFrame(runFrame);
}
// True once this frame's slice is spent (and outside a frame).
export function overBudget() { return performance.now() >= sliceEnd; }
// A read (or a scroll that needs one) after this frame's writes.
export function afterFrame(read) { reads.add(read); }
function runFrame() {
  framed = false; running = true;
  frameAt = performance.now(); sliceEnd = frameAt + SLICE_MS;
  // A write may ask for another write (or itself): that one waits for the next frame.
  const now = [...writes];
  writes = new Set();
  const left = [];
  for (const write of now) {
    try { if (write() === MORE) left.push(write); } catch (e) { console.error("livepilot:", e); }
  }
  sliceEnd = 0;
  const then = [...reads];
  reads.clear();
  for (const read of then) {
    try { read(); } catch (e) { console.error("livepilot:", e); }
  }
  running = false;
  if (left.length) {
    writes = new Set([...left, ...writes]);  // what was asked first still runs first
    schedule(true);
  } else if (writes.size) schedule(false);
}

// A write only when the value differs: writing a class, attribute or text, even the same
// one, restyles the element and marks its layout and paint dirty.
export function put(el, prop, value) { if (el[prop] !== value) el[prop] = value; }

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
