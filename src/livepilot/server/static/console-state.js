// livepilot console: what the parts of the page share and change. Each value is an
// explicit export; the ones a part replaces have a setter, so every writer is visible.

export const MAX_ROWS = 400;            // chat messages (and alarms) this page remembers
// Chat rows on the page at once: a screen holds about thirty, and every row on the page
// costs style, layout and hit testing on each frame of a busy chat. The list grows to
// CHAT_ROWS + CHAT_SLACK and is then cut back to CHAT_ROWS in one go: every cut at the top
// moves each row left on the page (a full repaint of the chat), so it happens every few
// seconds of a busy chat rather than in every batch.
export const CHAT_ROWS = 150;
export const CHAT_SLACK = 50;
export const rows = new Map();          // event id -> {el, event, insight, decision}
export const counts = {events: 0, flagged: 0};

export let currentStream = null;        // the stream the panels show (the picker's choice)
const streamListeners = [];
export function setCurrentStream(stream) {
  if (stream === currentStream) return;
  currentStream = stream;
  for (const fn of streamListeners) fn(stream);
}
export function onStreamChange(fn) { streamListeners.push(fn); }

export let socket = null;               // the console socket, while connected or connecting
export function setSocket(ws) { socket = ws; }

export let me = null;                   // /api/me's answer, null without one
export function setMe(who) { me = who; }

// -- messages seen, by id ------------------------------------------------------------
// A reconnect replays what the server still holds; whatever this page already showed is
// skipped. Bounded: the oldest ids are forgotten first (a replay is of recent messages).
const SEEN_MAX = 20000;
const seen = new Set();
export function firstSight(id) {
  if (id == null || id === "") return true;
  if (seen.has(id)) return false;
  seen.add(id);
  if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
  return true;
}
