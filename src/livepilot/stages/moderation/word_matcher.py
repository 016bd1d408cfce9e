"""Word matcher: the rule packs compiled into block-term lookups over normalised text.

:class:`WordMatcher` is the compiled form of the packs (built once per load, never
mutated; a reload builds a new one and swaps the reference). It matches each
whitespace-separated chunk of a message, and remembers the verdict per distinct chunk in
a bounded LRU memo, because chat vocabulary repeats: a steady-state message costs a few
dict lookups. On a memo miss a chunk is normalised (:mod:`livepilot.stages.moderation.normalize`)
and tried in this order, cheapest first:

1. allow-list (exact) → clean;
2. exact term, also with repeated letters squeezed on both sides (``huuuure``);
3. a ``prefix``/``substring`` term inside the word, unless an allow-list term covers the
   match (``fick`` in ``Fickmühlen``, ``schwanz`` in ``Schwanzflosse``) — the Scunthorpe
   guard;
4. masked letters as wildcards against terms of the same length (``h*re``, ``f**k``);
5. fuzzy (rapidfuzz ``ratio``) against terms of similar length, for words of 5+ letters,
   unless an allow-list word is at least as close.

Across chunks it joins single letters (``h u r e n s o h n``), checks two adjacent words
joined (``huren sohn``), multi-word terms (``bring dich um``) and regex rules. Each match
is a :class:`Hit`; the stage (:mod:`livepilot.stages.moderation.word_filter`) turns hits into
labels and reasons.

A matcher is shared by every stream of the process that reads the same pack files
(:meth:`WordMatcher.shared`, keyed by each file's path, modification time and size): the
verdict for a word depends only on the rules, so twenty streams keep one memo, one bound,
and compile the packs once. An edited file changes the key, so a hot reload builds a new
matcher; the old one goes when no stream holds it any more.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rapidfuzz import fuzz, process

from livepilot.ml.text import analysed
from livepilot.stages.moderation.normalize import (
    MASKS,
    candidates,
    collapse_runs,
    fold,
    squeeze,
    words,
)
from livepilot.stages.moderation.rules import (
    Category,
    MatchMode,
    RuleSeverity,
    WordPack,
    load_word_packs,
)
from livepilot.stages.moderation.safe_regex import RuleRegex
from livepilot.texts import Phrase, say

__all__ = ["Hit", "Term", "WordMatcher"]

_SEVERITY_RANK = {RuleSeverity.LOW: 0, RuleSeverity.MEDIUM: 1, RuleSeverity.HIGH: 2}
_MIN_FUZZY = 5
_AUTO_FUZZY = 7
_PUNCT = re.compile(r"[.,!?;:\"'()]+")
_REGEX_INPUT = 1_000
#: Prefix/substring terms are indexed by this many first letters (shorter terms: word).
_STEM = 3
_DIGIT = re.compile(r"\d")
_FUZZY_SPREAD = 2
#: Chunks longer than this are judged without the memo: no chat word is that long, and
#: one-off walls of text would only push real words out.
_MEMO_CHUNK = 100
#: Verdicts on names (@handle and nickname) remembered per matcher. A cache, not state:
#: a user seen again after being forgotten costs two short scans (tens of µs), so the
#: bound is sized for the users active at once, and reached early in a stream.
_NAMES = 10_000

#: The file a pack came from, as :meth:`WordMatcher.shared` keys it: resolved path,
#: ``st_mtime_ns``, ``st_size``.
_PackStamp = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class Term:
    """One block term as compiled: ``form`` is what the matcher compares."""

    text: str
    form: str
    category: Category
    severity: RuleSeverity
    match: MatchMode
    fuzzy: bool
    cutoff: float
    pack: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One match: which rule, how it matched, and the text it matched in."""

    rule: str
    category: Category
    severity: RuleSeverity
    how: str
    normalised: str
    found: str = ""
    score: float | None = None

    def at(self, found: str) -> Hit:
        """The same match, located in the message text as written."""
        return replace(self, found=found)

    def describe(self) -> Phrase:
        """``matched 'hurensohn' after normalising 'h*r3ns0hn' (masked) — insult, high``."""
        how = f"fuzzy {self.score:.0f}" if self.score is not None else self.how
        found = self.found or self.normalised
        kind, severity = str(self.category), str(self.severity)
        tail = f" — {kind}, {severity} severity"
        if self.how == "regex":
            return say("reason.word_regex", f"matched rule {self.rule!r} in {found!r}{tail}",
                       word=self.rule, seen=found, kind=kind, severity=severity)
        if " ".join(_PUNCT.sub(" ", found.lower()).split()) == self.rule.lower():
            return say("reason.word", f"matched {self.rule!r}{tail}",
                       word=self.rule, kind=kind, severity=severity)
        if self.how in ("exact", "phrase"):
            return say("reason.word_normalised",
                       f"matched {self.rule!r} after normalising {found!r}{tail}",
                       word=self.rule, seen=found, kind=kind, severity=severity)
        text = f"matched {self.rule!r} after normalising {found!r} ({how}){tail}"
        if self.score is not None:
            return say("reason.word_fuzzy", text, word=self.rule, seen=found,
                       score=round(self.score), kind=kind, severity=severity)
        return say("reason.word_masked", text, word=self.rule, seen=found, how=self.how,
                   kind=kind, severity=severity)


@dataclass(slots=True)
class _Tables:
    """Lookup tables for one spelling variant (as written, or letters squeezed)."""

    exact: dict[str, Term] = field(default_factory=dict)
    prefix: dict[int, dict[str, Term]] = field(default_factory=dict)
    inside: dict[int, dict[str, Term]] = field(default_factory=dict)
    allow: set[str] = field(default_factory=set)
    allow_list: list[str] = field(default_factory=list)
    inside_by_start: dict[str, list[tuple[str, Term]]] = field(default_factory=dict)
    prefix_by_start: dict[str, list[tuple[str, Term]]] = field(default_factory=dict)

    def add(self, key: str, term: Term, *, inside: bool = True) -> None:
        held = self.exact.get(key)
        if held is None or _SEVERITY_RANK[term.severity] > _SEVERITY_RANK[held.severity]:
            self.exact[key] = term
        if not inside:
            return
        table = {MatchMode.PREFIX: self.prefix, MatchMode.SUBSTRING: self.inside}.get(term.match)
        if table is not None:
            terms = table.setdefault(len(key), {})
            held = terms.get(key)
            if held is None or _SEVERITY_RANK[term.severity] > _SEVERITY_RANK[held.severity]:
                terms[key] = term

    def covered(self, word: str, start: int, end: int) -> bool:
        """Whether an allow-list term in ``word`` spans ``word[start:end]``."""
        for allowed in self.allow_list:
            size = len(allowed)
            if size >= end - start and word.find(allowed, max(0, end - size), start + size) >= 0:
                return True
        return False

    def index(self) -> None:
        """Group prefix/substring terms by their first three letters (longest first), so
        a word costs one lookup per position instead of one per position and length."""
        for table, index in ((self.inside, self.inside_by_start),
                             (self.prefix, self.prefix_by_start)):
            for size in sorted(table, reverse=True):
                for key, term in table[size].items():
                    index.setdefault(key[:_STEM], []).append((key, term))

    def inside_hit(self, word: str, how: str) -> Hit | None:
        n = len(word)
        best: tuple[int, int, Term] | None = None
        by_start = self.inside_by_start
        for i in range(n - _STEM + 1):
            for key, term in by_start.get(word[i : i + _STEM], ()):
                size = len(key)
                if size >= n or (best is not None and size <= best[1]):
                    continue
                if word.startswith(key, i) and not self.covered(word, i, i + size):
                    best = (i, size, term)
                    break  # longest first within a bucket
        if best is not None:
            return _hit(best[2], "substring" if how == "exact" else how, word)
        for key, term in self.prefix_by_start.get(word[:_STEM], ()):
            size = len(key)
            if size < n and word.startswith(key) and not self.covered(word, 0, size):
                return _hit(term, "prefix" if how == "exact" else how, word)
        return None


def _hit_as(hit: Hit, how: str) -> Hit:
    return replace(hit, how=how, found="")


def _hit(term: Term, how: str, normalised: str, score: float | None = None) -> Hit:
    return Hit(term.text, term.category, term.severity, how, normalised, score=score)


_Phrase = tuple[tuple[str, ...], Term]


@dataclass(frozen=True, slots=True)
class _Chunk:
    """The memoised verdict for one chunk of folded text, and what the message-level
    checks need to know about it (so a message without them costs nothing)."""

    word: str
    squeezed: str
    hit: Hit | None
    letter: str = ""
    #: Multi-word terms start with this word.
    opens: bool = False
    #: The word is the start of a longer term ("huren" of "hurensohn").
    head: bool = False
    #: Regex rules (by index) whose required literal occurs in this word.
    rules: frozenset[int] = frozenset()

    @property
    def special(self) -> bool:
        return bool(self.letter or self.opens or self.head)


_END = _Chunk("", "", None)


class WordMatcher:
    """The compiled rule packs. Immutable apart from its bounded verdict memo."""

    def __init__(self, packs: Sequence[tuple[str, WordPack]], *, memo_size: int = 50_000,
                 names_size: int = _NAMES) -> None:
        self.packs = tuple(name for name, _ in packs)
        self._memo: OrderedDict[str, _Chunk] = OrderedDict()
        self._memo_size = memo_size
        self._names: OrderedDict[tuple[str, str], tuple[Hit, ...]] = OrderedDict()
        self._names_size = names_size
        self._full = _Tables()
        self._squeezed = _Tables()
        self._phrases: dict[tuple[str, str], list[_Phrase]] = {}
        self._openers: set[str] = set()
        self._heads: set[str] = set()
        self._needles: list[tuple[str, int]] = []
        self._ungated: frozenset[int] = frozenset()
        self._by_length: dict[int, list[str]] = {}
        self._fuzzy_forms: dict[int, list[str]] = {}
        self._fuzzy_terms: dict[str, Term] = {}
        self._allow_by_length: dict[int, list[str]] = {}
        self._regex: list[
            tuple[RuleRegex, str, Category, RuleSeverity, bool, frozenset[str] | None]
        ] = []
        self._cutoff = 100.0
        self.terms = 0
        for name, pack in packs:
            self._add_pack(name, pack)
        self._finish()

    @property
    def cached(self) -> int:
        """How many chunk verdicts the memo holds (at most ``memo_size``)."""
        return len(self._memo)

    @property
    def cached_names(self) -> int:
        """How many name verdicts the matcher holds (at most ``names_size``)."""
        return len(self._names)

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> WordMatcher:
        """Load every existing pack file (raises ``RulesError`` naming the bad one)."""
        return cls([(str(path), pack) for path, pack in load_word_packs(list(paths))])

    @classmethod
    def shared(cls, paths: Iterable[Path]) -> WordMatcher:
        """The process's matcher for these pack files as they are now: built on the first
        call, the same object for every later call while no file changed (missing files
        are skipped, so streams without a pack of their own share one matcher)."""
        paths = list(paths)
        key = _stamps(paths)
        with _shared_lock:
            held = _shared.get(key)
        if held is not None:
            return held
        built = cls.from_paths(paths)
        with _shared_lock:
            # Two builders racing (threads) keep the first: every caller shares one memo.
            return _shared.setdefault(key, built)

    def name_hits(self, unique_id: str, nickname: str) -> tuple[Hit, ...]:
        """Every distinct rule the @handle or the nickname matches (memoised)."""
        key = (unique_id, nickname)
        names = self._names
        cached = names.get(key)
        if cached is not None:
            names.move_to_end(key)
            return cached
        # Handles are one user's words: judged, not added to the chunk memo.
        found = {hit.rule: hit for hit in self.scan(unique_id, remember=False)}
        if nickname:
            for hit in self.scan(nickname, remember=False):
                found.setdefault(hit.rule, hit)
        hits = tuple(found.values())
        names[key] = hits
        if len(names) > self._names_size:
            names.popitem(last=False)
        return hits

    def _add_pack(self, name: str, pack: WordPack) -> None:
        self._cutoff = min(self._cutoff, pack.fuzzy_cutoff)
        for rule in pack.block:
            for text in rule.all_terms:
                self.terms += 1
                phrase = words(text)
                if not phrase:
                    continue
                joined = "".join(phrase)
                match = rule.match
                if match is MatchMode.AUTO:
                    match = MatchMode.SUBSTRING if len(joined) >= 6 else MatchMode.WORD
                elif len(joined) < _STEM:
                    match = MatchMode.WORD  # two letters inside other words match anything
                fuzzy = rule.fuzzy
                if fuzzy is None:
                    fuzzy = match is MatchMode.SUBSTRING and len(joined) >= _AUTO_FUZZY
                term = Term(text, joined, rule.category, rule.severity, match, fuzzy,
                            pack.fuzzy_cutoff, name)
                if len(phrase) > 1:
                    squeezed_phrase = tuple(squeeze(w) for w in phrase)
                    for words_ in (tuple(phrase), squeezed_phrase):
                        key = (words_[0], words_[1])
                        self._phrases.setdefault(key, []).append((words_, term))
                        self._openers.add(words_[0])
                    # "bring-dich-um" arrives as one chunk: match the joined form in words.
                    if len(joined) < 8:
                        term = Term(text, joined, rule.category, rule.severity,
                                    MatchMode.WORD, False, pack.fuzzy_cutoff, name)
                self._full.add(collapse_runs(joined), term)
                # Squeezed forms only stand for themselves when squeezing lost nothing:
                # "niger"/"nute" are ordinary words, "hurensohn" is not.
                self._squeezed.add(squeeze(joined), term, inside=squeeze(joined) == joined)
                self._by_length.setdefault(len(joined), []).append(joined)
                if term.fuzzy and len(phrase) == 1 and len(joined) >= _MIN_FUZZY:
                    self._fuzzy_terms.setdefault(joined, term)
        for text in pack.allow:
            form = "".join(words(text))
            if form:
                self._full.allow.add(collapse_runs(form))
                self._squeezed.allow.add(squeeze(form))
        for rx in pack.regex:
            raw = rx.input == "raw"
            self._regex.append(
                (RuleRegex(rx.pattern, ignore_case=raw), rx.name, rx.category, rx.severity,
                 raw, None)
            )

    def _finish(self) -> None:
        for key in self._full.exact:
            if len(key) >= 6:
                self._heads.update(key[:i] for i in range(3, len(key) - 1))
        # A regex rule runs only when its message contains one of the literal strings
        # every match must contain ("bring" for "bring dich … um"): most chat has none.
        # Needles never contain a space, so each is found inside one word: the chunk memo
        # records which rules a word can wake, and a message wakes only those.
        self._regex = [
            (pattern, name, category, severity, on_raw, None if on_raw else pattern.needles)
            for pattern, name, category, severity, on_raw, _ in self._regex
        ]
        ungated = set()
        for index, (*_, needles) in enumerate(self._regex):
            if not needles or any(not n.isalnum() for n in needles):
                ungated.add(index)
            else:
                self._needles.extend((needle, index) for needle in needles)
        self._ungated = frozenset(ungated)
        for tables in (self._full, self._squeezed):
            tables.allow_list = sorted(tables.allow, key=len)
            tables.index()
        lengths = {len(f) for f in self._fuzzy_terms}
        for n in range(_MIN_FUZZY, max(lengths, default=0) + _FUZZY_SPREAD + 1):
            near = [f for f in self._fuzzy_terms if abs(len(f) - n) <= _FUZZY_SPREAD]
            if near:
                self._fuzzy_forms[n] = near
        for allowed in self._full.allow:
            for n in range(len(allowed) - _FUZZY_SPREAD, len(allowed) + _FUZZY_SPREAD + 1):
                self._allow_by_length.setdefault(n, []).append(allowed)

    # -- per chunk -------------------------------------------------------------------

    def _chunk(self, chunk: str, keep: bool = True) -> _Chunk:
        memo = self._memo
        entry = memo.get(chunk)
        if entry is not None:
            memo.move_to_end(chunk)
            return entry
        forms = candidates(chunk)
        hit = None
        for form in forms:
            hit = self.check_word(form)
            if hit is not None:
                break
        word = forms[0] if forms else ""
        squeezed = squeeze(word)
        rules = frozenset(index for needle, index in self._needles if needle in word)
        entry = _Chunk(word, squeezed, hit, word if len(word) == 1 else "",
                       word in self._openers or squeezed in self._openers,
                       word in self._heads, rules)
        if keep and len(chunk) <= _MEMO_CHUNK:
            memo[chunk] = entry
            if len(memo) > self._memo_size:
                memo.popitem(last=False)
        return entry

    def check_word(self, form: str) -> Hit | None:
        """The verdict for one normalised word (see the module docstring for the order)."""
        if len(form) < 2:
            return None
        full = collapse_runs(form)
        if MASKS.intersection(full):
            return self._masked(full)
        # Squeezing all doubles is only safe when the writer stretched a letter (3+ in a
        # row): "huuuure" → "hure", but "deep" must not become "depp".
        tight = squeeze(full) if full != form else full
        if full in self._full.allow or tight in self._squeezed.allow:
            return None
        term = self._full.exact.get(full)
        if term is not None:
            return _hit(term, "exact" if full == form else "repeated letters", form)
        if tight != full:
            term = self._squeezed.exact.get(tight)
            if term is not None:
                return _hit(term, "repeated letters", form)
        hit = self._full.inside_hit(full, "exact")
        if hit is None and tight != full:
            hit = self._squeezed.inside_hit(tight, "repeated letters")
        if len(full) >= _MIN_FUZZY and not _DIGIT.search(full):
            # A long term misspelt beats a short prefix inside it: "hurensonh" is
            # "hurensohn", not "hure".
            near = self._fuzzy(full)
            if near is not None and (hit is None or len(near.rule) > len(hit.rule)):
                return near
        return hit

    def _masked(self, word: str) -> Hit | None:
        masks = sum(1 for ch in word if ch in MASKS)
        letters = len(word) - masks
        if letters < 2 or masks > letters:
            return None
        for form in self._by_length.get(len(word), ()):
            if all(ch in MASKS or ch == letter for ch, letter in zip(word, form, strict=True)):
                return _hit(self._full.exact[collapse_runs(form)], "masked", word)
        return None

    def _fuzzy(self, word: str) -> Hit | None:
        choices = self._fuzzy_forms.get(len(word))
        if not choices:
            return None
        best = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=self._cutoff)
        if best is None:
            return None
        form, score, _ = best
        term = self._fuzzy_terms[form]
        if score < term.cutoff:
            return None
        allowed = self._allow_by_length.get(len(word))
        if allowed and process.extractOne(word, allowed, scorer=fuzz.ratio, score_cutoff=score):
            return None
        return _hit(term, "fuzzy", word, score=score)

    # -- per message -----------------------------------------------------------------

    def scan(self, text: str, *, remember: bool = True) -> list[Hit]:
        """Every distinct rule the message matches, strongest first.

        ``remember=False`` uses the chunk memo but adds nothing to it: for text whose
        words do not recur (a handle is one user's), which would only push chat words out.

        Looks at the first :data:`~livepilot.ml.text.ANALYSED_CHARS` characters; every step
        is linear in their length.
        """
        text = analysed(text)
        folded = fold(text)
        chunks = folded.split()
        raw = text.split()
        if len(raw) != len(chunks):
            raw = chunks
        hits: list[Hit] = []
        entries = [self._chunk(chunk, remember) for chunk in chunks]
        special = False
        rules = self._ungated
        for entry, found in zip(entries, raw, strict=True):
            if entry.hit is not None:
                hits.append(entry.hit.at(found))
            special = special or entry.special
            if entry.rules:
                rules = rules | entry.rules
        if special and len(entries) > 1:
            self._across(entries, raw, hits, remember)
        if rules:
            self._regexes(text, entries, rules, hits)
        if len(hits) > 1:
            # One reason per category: the most severe, then the most specific rule.
            seen: set[Category] = set()
            unique = []
            for hit in sorted(hits, key=lambda h: (-_SEVERITY_RANK[h.severity], -len(h.rule))):
                if hit.category not in seen:
                    seen.add(hit.category)
                    unique.append(hit)
            hits = unique
        return hits

    def _across(self, entries: list[_Chunk], raw: list[str], hits: list[Hit],
                remember: bool = True) -> None:
        run: list[int] = []
        exact = self._full.exact
        for index, entry in enumerate([*entries, _END]):
            # Single letters in a row: "h u r e n s o h n".
            if entry.letter:
                run.append(index)
            else:
                if len(run) >= 3:
                    joined = "".join(entries[i].letter for i in run)
                    hit = self._chunk(joined, remember).hit
                    if hit is not None:
                        hit = _hit_as(hit, "separated letters")
                        hits.append(hit.at(" ".join(raw[i] for i in run)))
                run = []
            # Two words that are one term: "huren sohn", "arsch loch".
            if entry.head and index + 1 < len(entries) and entries[index + 1].word:
                joined = entry.word + entries[index + 1].word
                term = exact.get(joined)
                if term is not None and len(term.form) >= 6:
                    hit = _hit(term, "joined words", joined)
                    hits.append(hit.at(f"{raw[index]} {raw[index + 1]}"))
            if not entry.opens or index + 1 >= len(entries):
                continue
            after = entries[index + 1]
            candidates_ = self._phrases.get((entry.word, after.word), [])
            if entry.squeezed != entry.word or after.squeezed != after.word:
                candidates_ = candidates_ + self._phrases.get((entry.squeezed, after.squeezed), [])
            for phrase, term in candidates_:
                size = len(phrase)
                window = entries[index : index + size]
                if len(window) == size and (
                    all(e.word == w for e, w in zip(window, phrase, strict=True))
                    or all(e.squeezed == w for e, w in zip(window, phrase, strict=True))
                ):
                    hit = _hit(term, "phrase", " ".join(phrase))
                    hits.append(hit.at(" ".join(raw[index : index + size])))

    def _regexes(
        self, text: str, entries: list[_Chunk], rules: frozenset[int], hits: list[Hit]
    ) -> None:
        # RE2 runs in linear time; the bound keeps even that small per message.
        normalised = " ".join(e.word for e in entries if e.word)[:_REGEX_INPUT]
        text = text[:_REGEX_INPUT]
        for index in sorted(rules):
            pattern, name, category, severity, on_raw, _ = self._regex[index]
            gate = pattern.digit_needles if on_raw else None
            if gate is not None and not any(needle in text for needle in gate):
                continue  # e.g. a number code rule on a message without its digits
            found = pattern.search(text if on_raw else normalised)
            if found is not None:
                hits.append(Hit(name, category, severity, "regex", found, found))



def _stamps(paths: Sequence[Path]) -> tuple[tuple[str, _PackStamp], ...]:
    """The key of :meth:`WordMatcher.shared`: each existing file with its stamp."""
    out: list[tuple[str, _PackStamp]] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), (str(path.resolve()), st.st_mtime_ns, st.st_size)))
    return tuple(out)


# Matchers in use, by their packs' stamps; one goes when no stream holds it any more.
_shared_lock = threading.Lock()
_shared: weakref.WeakValueDictionary[tuple[tuple[str, _PackStamp], ...], WordMatcher] = (
    weakref.WeakValueDictionary()
)
