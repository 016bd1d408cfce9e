// livepilot console: the keyboard. j/k select the next/previous open review item, a/h/s/c
// approve, hide, strike its author, claim it; ? opens the help, Esc closes what is open.
// Nothing fires while a moderator types (an input, a select, an editable element) or
// holds a modifier, so Ctrl-C and friends keep their meaning.
import {$} from "./console-dom.js";
import {actOnSelected, moveSelection} from "./console-review.js";
import {closeUser, userPanel} from "./console-users.js";

const ACTIONS = {a: "approve", h: "hide", s: "strike", c: "claim"};

export function typing(target) {
  if (!(target instanceof Element)) return false;
  return !!target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
}

export function openHelp() { $("help").hidden = false; $("help-close").focus(); }
export function closeHelp() { $("help").hidden = true; }

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") {
    if (!$("help").hidden) { closeHelp(); e.preventDefault(); return; }
    if (userPanel.user) { closeUser(); e.preventDefault(); }
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || typing(e.target)) return;
  if (e.key === "?") { e.preventDefault(); if ($("help").hidden) openHelp(); else closeHelp(); return; }
  if (!$("help").hidden || userPanel.user) return;  // a dialog is open: only Esc and ?
  const key = e.key.toLowerCase();
  if (e.key === "j" || e.key === "ArrowDown" && e.target === document.body) { e.preventDefault(); moveSelection(1); return; }
  if (e.key === "k" || e.key === "ArrowUp" && e.target === document.body) { e.preventDefault(); moveSelection(-1); return; }
  if (e.key.length === 1 && ACTIONS[key] && key === e.key) {
    if (actOnSelected(ACTIONS[key])) e.preventDefault();
  }
});

$("help-open").onclick = () => openHelp();
$("help-close").onclick = () => closeHelp();
$("help").addEventListener("click", (e) => { if (e.target === $("help")) closeHelp(); });
