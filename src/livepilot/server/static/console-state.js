// livepilot console: what the parts of the page share and change. Each value is an
// explicit export; the ones a part replaces have a setter, so every writer is visible.

export const MAX_ROWS = 400;
export const rows = new Map();          // event id -> {el, event, insight}
export const counts = {events: 0, flagged: 0};

export let currentStream = null;        // the stream the panels show: the first one seen
export function setCurrentStream(stream) { currentStream = stream; }

export let socket = null;               // the console socket, while connected or connecting
export function setSocket(ws) { socket = ws; }

export let me = null;                   // /api/me's answer, null without one
export function setMe(who) { me = who; }

// Keeps a list to its newest MAX_ROWS entries; a chat row that falls off is forgotten.
export function trim(container) {
  while (container.childElementCount > MAX_ROWS) {
    const last = container.lastElementChild;
    if (last.dataset.id) rows.delete(last.dataset.id);
    last.remove();
  }
}
