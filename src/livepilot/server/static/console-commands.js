// livepilot console: commands sent as frames on the console socket, their answers in
// turn, and the toast that reports what went wrong.
import {$} from "./console-dom.js";
import {me, socket} from "./console-state.js";
import {displayName} from "./console-api.js";
import {SHOW_ACTIONS, showBurst} from "./console-show.js";
import {t, word} from "./console-i18n.js";

// Actions sent and not yet answered, in order: the server answers every frame in turn.
export const pending = [];
export function command(stream, action, target = "", args = {}) {
  if (!stream || !socket || socket.readyState !== 1) {
    notify(t(stream ? "toast.offline" : "toast.no_stream", {action: word("act.", action)}), true);
    return false;
  }
  const frame = {stream, action, target, args};
  if (!(me && me.verified)) frame.by = displayName();
  socket.send(JSON.stringify(frame));
  pending.push(action);
  if (SHOW_ACTIONS.has(action)) showBurst();
  return true;
}

let toastTimer = null;
export function notify(text, bad) {
  if (bad) console.warn("livepilot:", text);
  $("toast").textContent = text;
  $("toast").className = bad ? "bad" : "";
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { $("toast").textContent = ""; }, bad ? 10000 : 3000);
}
