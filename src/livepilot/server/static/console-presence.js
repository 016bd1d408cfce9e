// livepilot console: who else is moderating, and what each of them handles.
//
// On every (re)connect the page says hello on the console socket with the name it acts
// under; the server answers every console with a "presence" frame listing the moderators
// connected and their claims (livepilot.server.presence). A claim ("I handle this one")
// is sent the same way and shows on every console's review item.
import {$, esc} from "./console-dom.js";
import {me, socket} from "./console-state.js";
import {displayName} from "./console-api.js";
import {t} from "./console-i18n.js";

let moderators = [];          // the last presence frame's list
const listeners = [];
export function onPresence(fn) { listeners.push(fn); }

// The name this page acts under: a verified moderator's own, else the one typed in the header.
export function myName() { return me && me.verified ? me.name : displayName(); }

function send(frame) {
  if (socket && socket.readyState === 1) socket.send(JSON.stringify({type: "presence", ...frame}));
}

export function hello() {
  send({op: "hello", name: me && me.verified ? "" : displayName()});
}

export function claimedBy(stream, id) {
  const names = [];
  for (const m of moderators) if (m.claims.some(c => c.stream === stream && c.target === id)) names.push(m.name);
  return names;
}

export function release(stream, id) {
  if (claimedBy(stream, id).includes(myName())) send({op: "release", stream, target: id});
}

export function toggleClaim(stream, id) {
  const taken = claimedBy(stream, id).includes(myName());
  send({op: taken ? "release" : "claim", stream, target: id});
}

export function onPresenceFrame(msg) {
  moderators = Array.isArray(msg.moderators) ? msg.moderators : [];
  render();
  for (const fn of listeners) fn();
}

function render() {
  $("presence").innerHTML = moderators.map(m => {
    const claims = m.claims.length ? ` <span class="claims">· ${esc(t("presence.claims", {n: m.claims.length}))}</span>` : "";
    const tabs = m.connections > 1 ? ` ×${m.connections}` : "";
    return `<span class="mod${m.name === myName() ? " me" : ""}" data-name="${esc(m.name)}" title="${esc(t("role." + m.role))}">● ${esc(m.name)}${tabs}${claims}</span>`;
  }).join("");
}
document.addEventListener("langchange", render);
