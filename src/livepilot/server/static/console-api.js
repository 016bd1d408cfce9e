// livepilot console: the page's token, reads from the server's API, and who is signed in.
import {$, esc} from "./console-dom.js";
import {me, setMe} from "./console-state.js";
import {t} from "./console-i18n.js";

export const token = new URLSearchParams(location.search).get("token") || "";

export async function api(path) {
  const r = await fetch(path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token));
  return r.ok ? r.json() : null;
}

// -- who is signed in ---------------------------------------------------------------
// /api/me says who the token belongs to. A server without it (404) gets today's console:
// every button, and `by: "console"`. A verified moderator's name is filled in by the
// server, so the page sends no `by`; with the shared token the moderator may type a
// display name once (kept in localStorage) that is sent as `by`.
const BY_KEY = "livepilot.by";
export function displayName() { return (localStorage.getItem(BY_KEY) || "").trim() || "console"; }
export async function loadMe() {
  let r;
  try { r = await fetch("/api/me?token=" + encodeURIComponent(token)); } catch (e) { return; }
  if (!r.ok) return;
  setMe(await r.json());
  // The role decides; `can` (the action groups the server allows) narrows it further.
  const can = Array.isArray(me.can) ? me.can : null;
  document.body.classList.toggle("no-show", me.role !== "lead" || (can !== null && !can.includes("show")));
  document.body.classList.toggle("no-commands", me.role === "observer" || (can !== null && !can.length));
  document.body.classList.toggle("no-users", me.role === "observer" || (can !== null && !can.includes("users")));
  renderMe();
}
// Who is signed in, in the page's language; the name field keeps what was typed.
export function renderMe() {
  if (!me) return;
  const role = t("role." + me.role);
  if (me.verified) { $("me").textContent = `${me.name} (${role})`; return; }
  if ($("by")) { $("by").placeholder = t("me.name_placeholder"); $("by").title = t("me.name_title"); $("me-role").textContent = ` (${role})`; return; }
  $("me").innerHTML = `<input id="by" maxlength="80" placeholder="${esc(t("me.name_placeholder"))}" title="${esc(t("me.name_title"))}"><span id="me-role"> (${esc(role)})</span>`;
  $("by").value = localStorage.getItem(BY_KEY) || "";
  $("by").oninput = () => { localStorage.setItem(BY_KEY, $("by").value.trim()); };
  $("by").onchange = () => document.dispatchEvent(new CustomEvent("namechange"));
}
document.addEventListener("langchange", renderMe);
