// livepilot console: small page helpers with no state of their own.

export const $ = (id) => document.getElementById(id);

export function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }

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
