r"""Rule regexes on a linear-time engine, checked when the rules load.

Chat text is hostile input: a backtracking engine (Python's ``re``) can spend minutes on
one message with a pattern like ``(a+)+$``. Regex rules therefore run on RE2
(``google-re2``), whose matching time grows linearly with the text, and every pattern is
checked when its pack loads. :func:`check` raises :class:`ValueError` (the rules loader
turns it into a ``RulesError`` naming file, rule and field) when

* the pattern does not compile on RE2. RE2 syntax is Python's without back-references,
  look-behind, atomic groups and possessive repeats; ``\w``, ``\d`` and ``\b`` mean ASCII
  letters and digits (the normalised text spells umlauts out; ``\pL`` is any letter);
* it uses a look-ahead anywhere but at the very end. One trailing ``(?!…)`` or ``(?=…)``
  is supported: a match followed (``(?!…)``) or not followed (``(?=…)``) by it does not
  count, and the search goes on after that match;
* it repeats a repetition (``(a+)+``, ``(\w+\s?)*``, ``(a+){1,40}``), repeats something
  that can match nothing (``(a?)*``) or repeats alternatives that can start alike
  (``(?:a|a)+``, ``(?:ab|a)*``). RE2 runs these in linear time too, but they are written
  by mistake (``(a+)+`` means ``a+``) and hang the backtracking tools rule authors test
  with. A repeat of at most :data:`SMALL_REPEAT` (``(?:\w+\s+){0,3}``) is fine;
* its compiled program is larger than :data:`MAX_PROGRAM` instructions (the work per
  character of text grows with it).

:class:`RuleRegex` is a checked, compiled pattern; its ``needles`` are literal strings one
of which every match contains, read off the pattern by :mod:`._regex_syntax`, so a
matcher can skip the rule on messages without any of them (``digit_needles``: the same
for a rule on the raw text, when the literals hold no letter).
"""

from __future__ import annotations

import re

import re2

from livepilot.stages.moderation._regex_syntax import (
    Alt,
    Look,
    Node,
    Parser,
    Repeat,
    Seq,
    Unreadable,
    distinct,
    needles,
    nullable,
    walk,
)

__all__ = ["MAX_PROGRAM", "SMALL_REPEAT", "RuleRegex", "check"]

#: Largest RE2 program (instructions) a rule may compile to.
MAX_PROGRAM = 10_000
#: A repeat of at most this many may contain another repeat (``(?:\w+\s+){0,3}``).
SMALL_REPEAT = 5
#: RE2's errors for a pattern that is malformed in any syntax (unbalanced brackets …).
_STRUCTURE_ERRORS = ("missing ]", "missing )", "unexpected )", "trailing \\",
                     "no argument for repetition operator")
#: Matches a trailing look-ahead may veto in one search before the rule counts as unmatched.
_MAX_VETOED = 64


def _show(pattern: str) -> str:
    return repr(pattern if len(pattern) <= 80 else pattern[:77] + "...")


def _check_repeats(node: Node, pattern: str) -> None:
    for repeat in walk(node):
        if not isinstance(repeat, Repeat):
            continue
        if repeat.high is not None and repeat.high <= SMALL_REPEAT:
            continue
        body = repeat.body
        if any(isinstance(n, Repeat) and (n.high is None or n.high > 1)
               for n in walk(body)):
            raise ValueError(
                f"regex {_show(pattern)} repeats a repetition (like '(a+)+' or '(a+){{1,40}}'); "
                f"write it without the inner repeat ('a+'), or repeat at most "
                f"{SMALL_REPEAT} times ('(?:\\w+\\s+){{0,3}}')"
            )
        if nullable(body):
            raise ValueError(
                f"regex {_show(pattern)} repeats something that can match nothing "
                f"(like '(a?)*' or '(a|)+'); make the repeated part match at least one character"
            )
        for alt in walk(body):
            if isinstance(alt, Alt):
                branches = alt.branches
                for i, first in enumerate(branches):
                    if not all(distinct(first, other) for other in branches[i + 1 :]):
                        raise ValueError(
                            f"regex {_show(pattern)} repeats alternatives that can start "
                            f"alike (like '(?:a|a)+' or '(?:ab|a)*'); give each alternative a "
                            f"different first letter or use a character class ('[ab]+')"
                        )



# -- the compiled rule --------------------------------------------------------------------


def _options(*, ignore_case: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    return options


def _compile(pattern: str, shown: str, *, ignore_case: bool) -> re2._Regexp:
    try:
        return re2.compile(pattern, _options(ignore_case=ignore_case))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if str(reason).startswith(_STRUCTURE_ERRORS):
            try:
                re.compile(shown)  # Python's message for the same mistake says where it is
            except re.error as syntax:
                raise ValueError(f"bad regex {_show(shown)}: {syntax}") from None
        raise ValueError(
            f"bad regex {_show(shown)}: {reason} (rules run on RE2, the linear-time regex "
            f"engine: no back-references, look-behind, atomic groups or possessive repeats)"
        ) from None


class RuleRegex:
    """A rule pattern checked by :func:`check` and compiled for RE2."""

    __slots__ = ("_core", "_guard", "_vetoes", "digit_needles", "needles", "pattern")

    def __init__(self, pattern: str, *, ignore_case: bool = False) -> None:
        self.pattern = pattern
        try:
            tree: Node | None = Parser(pattern).parse()
        except Unreadable:
            tree = None
        core = pattern
        self._guard: re2._Regexp | None = None
        self._vetoes = True
        if tree is not None:
            tree, core = self._split_guard(tree, pattern, ignore_case)
        self._core = _compile(core, pattern, ignore_case=ignore_case)
        if tree is None:
            # RE2 reads it but the parser does not: it runs, unfiltered and unchecked
            # (the engine is what keeps it linear; the checks are about intent).
            self.needles: frozenset[str] | None = None
            self.digit_needles: frozenset[str] | None = None
            return
        _check_repeats(tree, pattern)
        size = self._core.programsize + (self._guard.programsize if self._guard else 0)
        if size > MAX_PROGRAM:
            raise ValueError(
                f"regex {_show(pattern)} compiles to {size} instructions (at most "
                f"{MAX_PROGRAM}); split it into several rules or use fewer counted repeats"
            )
        self.needles = needles(tree)
        #: Literals of 2+ characters with no letter in them (``14``, ``1488``), one of which
        #: every match contains: a gate on the raw text that case folding cannot fool.
        short = needles(tree, 2)
        self.digit_needles = (
            short if short and not any(c.isalpha() for n in short for c in n) else None
        )

    def _split_guard(self, tree: Node, pattern: str, ignore_case: bool) -> tuple[Node, str]:
        """Take a trailing look-ahead off as the guard; refuse every other look-around."""
        items = tree.items if isinstance(tree, Seq) else (tree,)
        last = items[-1] if items else None
        looks = [n for n in walk(tree) if isinstance(n, Look)]
        if (isinstance(last, Look) and not last.behind and looks == [last]
                and last.end == len(pattern)):
            guard = pattern[last.start + 3 : last.end - 1]
            if last.folded:
                guard = f"(?i:{guard})"
            self._guard = _compile(guard, pattern, ignore_case=ignore_case)
            self._vetoes = last.negative
            return Seq(items[:-1]), pattern[: last.start]
        if looks:
            raise ValueError(
                f"regex {_show(pattern)} uses a look-around the linear-time regex engine "
                f"(RE2) cannot run; only one look-ahead at the very end is supported "
                f"(like 'um\\b(?!\\s+acht)'): rewrite the rest without '(?=', '(?!', "
                f"'(?<=', '(?<!'"
            )
        return tree, pattern

    def search(self, text: str) -> str | None:
        """The first match in ``text`` (as RE2 finds it, leftmost first), or ``None``."""
        guard = self._guard
        if guard is None:
            found = self._core.search(text)
            return None if found is None else str(found.group(0))
        data = text.encode("utf-8")
        for count, found in enumerate(self._core.finditer(data)):
            if count >= _MAX_VETOED:
                break
            if (guard.match(data, found.end()) is None) == self._vetoes:
                return bytes(found.group(0)).decode("utf-8")
        return None


def check(pattern: str) -> str:
    """``pattern`` if it may be a rule regex; else :class:`ValueError` saying why."""
    RuleRegex(pattern)
    return pattern
