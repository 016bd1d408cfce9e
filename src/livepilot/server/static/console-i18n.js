// livepilot console: the page's words in German and English, from one catalogue per
// language (/console-assets/i18n/{de,en}.json). The language is the one picked in the
// header (kept in localStorage), else the browser's; German and English are known.
//
// t(key, params) fills {name} placeholders; a key with a "_one" variant uses it when
// params.n === 1. Static labels in console.html carry data-i18n (text), data-i18n-title
// and data-i18n-placeholder and are filled by applyStatic(). A missing key is shown as the
// key itself and reported once on the console, so a test can catch it.
//
// Stages write reasons, alarm messages and host prompts as prose *and* as a code with
// params (livepilot/texts.py; the code is the catalogue key). localise() says a coded one
// in the page's language; prose without a code (older recordings, free text) is matched
// against the known shapes below, else shown as the server wrote it.

export const LANGS = ["de", "en"];
const LANG_KEY = "livepilot.lang";
let lang = "en";
let words = {};
const missing = new Set();

export function currentLang() { return lang; }

export function preferredLang() {
  const saved = localStorage.getItem(LANG_KEY);
  if (LANGS.includes(saved)) return saved;
  for (const l of navigator.languages || [navigator.language || ""]) {
    const base = String(l).slice(0, 2).toLowerCase();
    if (LANGS.includes(base)) return base;
  }
  return "en";
}

// Loads the catalogue for `which`, makes it current and relabels the page.
export async function setLang(which, remember = false) {
  if (!LANGS.includes(which)) which = "en";
  const r = await fetch(`/console-assets/i18n/${which}.json`);
  if (!r.ok) throw new Error(`catalogue ${which}: HTTP ${r.status}`);
  words = await r.json(); lang = which; memo.clear();
  if (remember) localStorage.setItem(LANG_KEY, which);
  document.documentElement.lang = which;
  applyStatic(document);
  document.dispatchEvent(new CustomEvent("langchange", {detail: which}));
}

export function t(key, params = {}) {
  let text = params.n === 1 && (key + "_one") in words ? words[key + "_one"] : words[key];
  if (text === undefined) {
    if (!missing.has(key)) { missing.add(key); console.error("livepilot: no words for", key, "in", lang); }
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

// For codes the server may grow (alarm kinds, states, actions): the catalogue's words if
// it has them, else the code made readable ("dead_air" → "dead air").
export function word(prefix, code, params = {}) {
  const key = prefix + code;
  if (key in words) return t(key, params);
  return String(code).replace(/_/g, " ");
}

// A label's words: the catalogue's if it knows the name, else the name as the stage wrote it.
export function labelName(name, kind) {
  const known = words["label." + name];
  const base = known === undefined ? name : known;
  if (!kind) return base;
  const k = words["kind." + kind];
  return `${base}: ${k === undefined ? kind : k}`;
}

export function applyStatic(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
}

// -- server prose in the page's language -----------------------------------------------
// Each pattern is anchored and linear (no nested quantifiers); the captured parts are
// user text and numbers, passed through as they are. `to` is the catalogue key.
const PROSE = [
  {re: /^matched '(.*)' after normalising '(.*)' \(masked\) — (\w+), (\w+) severity$/, to: "reason.word_masked", names: ["word", "seen", "kind", "severity"]},
  {re: /^matched '(.*)' after normalising '(.*)' — (\w+), (\w+) severity$/, to: "reason.word_normalised", names: ["word", "seen", "kind", "severity"]},
  {re: /^matched '(.*)' — (\w+), (\w+) severity$/, to: "reason.word", names: ["word", "kind", "severity"]},
  {re: /^and (\d+) more matches$/, to: "reason.more_matches", names: ["n"]},
  {re: /^word filter hit \((\w+)\)$/, to: "reason.word_filter_hit", names: ["kind"]},
  {re: /^German model ([\d.]+) \((\w+)\)$/, to: "reason.german_model", names: ["score", "kind"]},
  {re: /^(Detoxify|detoxify) ([\d.]+) \((\w+)\)$/, to: "reason.model", names: ["model", "score", "kind"]},
  {re: /^@(\S+): strike score ([\d.]+) \(([^()]*)\) → ([^;]+)(?:; repeat offender: (\d+) hits in (\d+) streams)?$/, to: "reason.strike", names: ["user", "score", "hits", "step", "past", "streams"]},
  {re: /^@(\S+): strike score ([\d.]+) — messages hidden from overlays until it decays$/, to: "reason.strike_decay", names: ["user", "score"]},
  {re: /^mostly capital letters \((\d+)% of (\d+)\)$/, to: "reason.caps", names: ["share", "n"]},
  {re: /^'(.*)' (\d+) times in a row$/, to: "reason.run", names: ["text", "n"]},
  {re: /^mostly emoji\/symbols \((\d+) of (\d+)\)$/, to: "reason.symbols", names: ["symbols", "n"]},
  {re: /^the same word '(.*)' (\d+) times$/, to: "reason.same_word", names: ["word", "n"]},
  {re: /^phone number '(.*)'$/, to: "reason.phone", names: ["number"]},
  {re: /^@(\S+) sent more than (\d+) messages in (\d+) s$/, to: "reason.rate", names: ["user", "n", "s"]},
  {re: /^@(\S+) sent this (\d+) times in (\d+) min \(similarity (\d+)\)$/, to: "reason.repeat", names: ["user", "n", "min", "similarity"]},
  {re: /^raid: @(\S+) is one of its (\d+) accounts \(they posted '(.*)'\)$/, to: "reason.raid_member", names: ["user", "n", "text"]},
  {re: /^@(\S+) is blocked by (.+)$/, to: "reason.blocked", names: ["user", "by"]},
  {re: /^link to '(.*)'$/, to: "reason.link", names: ["target"]},
  {re: /^(\d+) people asked: (.*)$/, to: "reason.asked", names: ["n", "text"]},
  {re: /^FAQ '(.*)' \(([\d.]+)\)$/, to: "reason.faq", names: ["entry", "score"]},
  {re: /^(feedback_positive|feedback_negative): matched '(.*)'$/, to: "reason.intent", names: ["label", "phrase"]},
  {re: /^lead \((\w+)\): matched '(.*)'$/, to: "reason.lead", names: ["kind", "phrase"]},
  {re: /^raid: (\d+) accounts posted this within (\d+) s, (\d+) of them new to the chat(.*)$/, to: "reason.raid", names: ["n", "s", "new", "joined", "promotes"]},
  {re: /^(q\d+) claimed by (.+)$/, to: "reason.claimed", names: ["id", "by"]},
  {re: /^(q\d+) answered by (.+) after (\d+) s$/, to: "reason.answered", names: ["id", "by", "s"]},
  {re: /^(q\d+) dismissed by (.+)$/, to: "reason.dismissed", names: ["id", "by"]},
  // host prompts (the show stages write them in German)
  {re: /^Danke @(\S+) für (.+)$/, to: "prompt.thanks", names: ["user", "gift"], from: "de"},
  {re: /^Danke für die Geschenke: (.+)$/, to: "prompt.thanks_many", names: ["names", "more"], from: "de"},
  {re: /^(\d+) Leute fragen: „(.*)“$/, to: "prompt.asked", names: ["n", "text"], from: "de"},
];
// Steps of the strike ladder and other words inside the prose.
const STEPS = {"note for the moderators": "step.note", "hide from overlays": "step.hide",
  "hold for review": "step.hold", "block": "step.block"};
const PARAM_WORDS = {kind: "kind.", severity: "severity.", label: "label.", step: null};
// "1 hit", "3 hits in 2 min" inside a strike reason.
const HITS = /^(\d+) hits?(?: in (\d+) min)?$/;
// ", 4 joined just before; promotes free coins" after a raid reason.
const RAID_REST = /^(?:, (\d+) joined just before)?(?:; promotes (.*))?$/;
function raidRest(text) {
  const m = RAID_REST.exec(text);
  if (!m) return text;
  return (m[1] ? t("reason.raid_joined", {n: m[1]}) : "") + (m[2] ? t("reason.raid_promotes", {what: m[2]}) : "");
}
function hitsText(text) {
  const m = HITS.exec(text);
  if (!m) return text;
  return m[2] ? t("reason.strike_hits_in", {n: Number(m[1]), min: m[2]}) : t("reason.strike_hits", {n: Number(m[1])});
}

// Prose longer than this is shown as written: the patterns stay cheap on hostile text.
const MAX_PROSE = 400;

// The same reasons come again and again (every hit of one word): each is worked out once
// per language. Bounded; cleared when the language changes.
const memo = new Map();
const MEMO_MAX = 3000;

// Params whose values are codes the catalogue also names ("insult" → "Beleidigung").
const CODED_PARAMS = {kind: "kind.", severity: "severity.", step: "step.", label: "label.",
  how: "how.", state: "stream_state."};

// A reason, alarm or prompt ({text|message, code, params}) or plain prose, in the page's
// language. A code the catalogue lacks falls back to the prose.
export function localise(what) {
  if (what && typeof what === "object") {
    if (what.code && what.code in words) return said(what.code, what.params || {});
    return localise(what.text ?? what.message ?? "");
  }
  return localiseProse(what);
}

function said(code, params) {
  const out = {};
  for (const [name, v] of Object.entries(params)) {
    if (v && typeof v === "object") {
      // a nested phrase (an optional tail) or a rules text in both languages
      out[name] = v.code ? localise(v) : (v[lang] ?? v.en ?? Object.values(v)[0] ?? "");
    } else if (CODED_PARAMS[name] && (CODED_PARAMS[name] + v) in words) {
      out[name] = words[CODED_PARAMS[name] + v];
    } else {
      out[name] = v;
    }
  }
  return t(code, out);
}

function localiseProse(text) {
  if (typeof text !== "string" || text.length > MAX_PROSE) return text;
  let out = memo.get(text);
  if (out === undefined) {
    out = localiseOnce(text);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(text, out);
  }
  return out;
}

function localiseOnce(text) {
  for (const p of PROSE) {
    if ((p.from || "en") === lang) continue;  // already in the page's language
    const m = p.re.exec(text);
    if (!m || !(p.to in words)) continue;
    const params = {};
    p.names.forEach((name, i) => {
      let v = m[i + 1];
      if (v === undefined) v = "";
      else if (name === "step" && STEPS[v] && STEPS[v] in words) v = words[STEPS[v]];
      else if (name === "hits") v = hitsText(v);
      else if (name === "joined") v = raidRest(v);
      else if (name === "past") v = v ? t("reason.strike_past", {n: v, streams: m[i + 2]}) : "";
      else if (PARAM_WORDS[name] && (PARAM_WORDS[name] + v) in words) v = words[PARAM_WORDS[name] + v];
      params[name] = v;
    });
    if ("n" in params) params.n = Number(params.n);
    const text2 = t(p.to, params);
    return text2;
  }
  return text;
}

// The catalogue's keys (for the page's own checks and the tests).
export function catalogueKeys() { return Object.keys(words); }
