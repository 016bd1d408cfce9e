"""The structure of a regular expression in RE2's syntax, for :mod:`.safe_regex`.

:class:`Parser` reads a pattern into a small tree (characters as code-point ranges,
sequences, alternatives, groups, repeats, assertions, look-arounds) without compiling it;
the functions below answer what the rule checks and the word matcher's prefilter need to
know: whether a part can match nothing, whether two alternatives can start alike, and which
literal strings every match contains. Anything it cannot read raises :class:`Unreadable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Alt",
    "Assert",
    "Char",
    "Group",
    "Look",
    "Node",
    "Parser",
    "Repeat",
    "Seq",
    "Unreadable",
    "distinct",
    "needles",
    "nullable",
    "walk",
]

#: Needles shorter than this are not worth a prefilter.
_MIN_NEEDLE = 3

_TOP = 0x10FFFF
_Ranges = tuple[tuple[int, int], ...]


def _ranges(pairs: Iterable[tuple[int, int]]) -> _Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(pairs):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _negate(ranges: _Ranges) -> _Ranges:
    out = []
    start = 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= _TOP:
        out.append((start, _TOP))
    return tuple(out)


def _overlap(a: _Ranges, b: _Ranges) -> bool:
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return True
    return False


def _fold(ranges: _Ranges) -> _Ranges:
    """``ranges`` plus the other case of its ASCII letters."""
    extra = []
    for lo, hi in ranges:
        for start, end, shift in ((97, 122, -32), (65, 90, 32)):
            if lo <= end and hi >= start:
                extra.append((max(lo, start) + shift, min(hi, end) + shift))
    return _ranges([*ranges, *extra])


_ANY: _Ranges = ((0, _TOP),)
# RE2's Perl classes are ASCII.
_CLASSES: dict[str, _Ranges] = {
    "d": ((48, 57),),
    "s": ((9, 10), (12, 13), (32, 32)),
    "w": _ranges([(48, 57), (65, 90), (95, 95), (97, 122)]),
}
_POSIX: dict[str, _Ranges] = {
    "digit": _CLASSES["d"],
    "alpha": ((65, 90), (97, 122)),
    "alnum": ((48, 57), (65, 90), (97, 122)),
    "upper": ((65, 90),),
    "lower": ((97, 122),),
    "space": ((9, 13), (32, 32)),
    "word": _CLASSES["w"],
    "xdigit": ((48, 57), (65, 70), (97, 102)),
}
_CONTROL = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}
_COUNT = re.compile(r"\{(\d+)(,(\d*))?\}")
_FLAGS = re.compile(r"\?([imsU]*)(?:-([imsU]*))?([:)])")


# -- the pattern as a tree ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Char:
    """One character out of ``ranges``; ``literal`` when it is one plain character."""

    ranges: _Ranges
    literal: str = ""
    folded: bool = False


@dataclass(frozen=True, slots=True)
class Assert:
    """A zero-width assertion: ``^ $ \\b \\B \\A \\z``."""


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Alt:
    branches: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Group:
    body: Node


@dataclass(frozen=True, slots=True)
class Repeat:
    body: Node
    low: int
    high: int | None  # None: unbounded


@dataclass(frozen=True, slots=True)
class Look:
    body: Node
    negative: bool
    behind: bool
    #: Where it sits in the pattern: its "(" and just after its ")".
    start: int
    end: int
    #: Whether it was written under ``(?i)``.
    folded: bool


Node = Char | Assert | Seq | Alt | Group | Repeat | Look


class Unreadable(ValueError):
    """The parser does not understand the pattern (RE2 is asked for the real error)."""


class Parser:
    """Recursive descent over RE2's syntax, enough to see the structure of a pattern."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.at = 0
        self.fold = False

    def parse(self) -> Node:
        node = self._alt()
        if self.at < len(self.text):
            raise Unreadable(f"unbalanced ')' at {self.at}")
        return node

    def _peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def _alt(self) -> Node:
        branches = [self._seq()]
        while self._peek() == "|":
            self.at += 1
            branches.append(self._seq())
        return branches[0] if len(branches) == 1 else Alt(tuple(branches))

    def _seq(self) -> Node:
        items: list[Node] = []
        while self._peek() not in ("", "|", ")"):
            atom = self._atom()
            if atom is not None:
                items.append(self._repeated(atom))
        return items[0] if len(items) == 1 else Seq(tuple(items))

    def _repeated(self, atom: Node) -> Node:
        while True:
            char = self._peek()
            if char in ("*", "+", "?"):
                low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
                self.at += 1
            elif char == "{" and (count := _COUNT.match(self.text, self.at)):
                low = int(count[1])
                high = low if count[2] is None else (int(count[3]) if count[3] else None)
                self.at = count.end()
            else:
                return atom
            if self._peek() == "?":
                self.at += 1  # lazy: the same language, another preference
            if isinstance(atom, Repeat | Assert | Look):
                raise Unreadable(f"a repeat of {self.text[:self.at]!r} has nothing to repeat")
            atom = Repeat(atom, low, high)

    def _atom(self) -> Node | None:
        char = self.text[self.at]
        self.at += 1
        if char == "(":
            return self._group()
        if char == "[":
            return self._class()
        if char == ".":
            return Char(_ANY)
        if char in "^$":
            return Assert()
        if char == "\\":
            return self._escape()
        if char in "*+?":
            raise Unreadable(f"nothing to repeat at {self.at - 1}")
        return self._literal(char)

    def _literal(self, char: str) -> Char:
        point = ord(char)
        if self.fold and char.lower() != char.upper():
            variants = {char, char.lower(), char.upper()}
            pairs = [(ord(v), ord(v)) for v in variants if len(v) == 1]
            return Char(_fold(_ranges(pairs)), char, folded=True)
        return Char(((point, point),), char)

    def _group(self) -> Node | None:
        text, start, outer = self.text, self.at - 1, self.fold
        if text.startswith(("?=", "?!", "?<=", "?<!"), self.at):
            behind = text[self.at + 1] == "<"
            negative = text[self.at + 1 + behind] == "!"
            self.at += 2 + behind
            body = self._alt()
            self._close(start)
            self.fold = outer
            return Look(body, negative, behind, start, self.at, outer)
        if text.startswith(("?P<", "?<"), self.at):
            end = text.find(">", self.at)
            if end < 0:
                raise Unreadable(f"unterminated group name at {start}")
            self.at = end + 1
        elif text.startswith("?", self.at):
            flags = _FLAGS.match(text, self.at)
            if flags is None:
                raise Unreadable(f"unknown group syntax at {start}")
            self.at = flags.end()
            fold = "i" in flags[1] or (self.fold and "i" not in (flags[2] or ""))
            if flags[3] == ")":
                self.fold = fold  # "(?i)": for the rest of the enclosing group
                return None
            self.fold = fold
        body = self._alt()
        self._close(start)
        self.fold = outer
        return Group(body)

    def _close(self, start: int) -> None:
        if self._peek() != ")":
            raise Unreadable(f"missing ')' for the group at {start}")
        self.at += 1

    def _escape(self) -> Node:
        if self.at >= len(self.text):
            raise Unreadable("trailing backslash")
        char = self.text[self.at]
        if char in "bBAz":
            self.at += 1
            return Assert()
        if char == "Q":
            end = self.text.find("\\E", self.at)
            quoted = self.text[self.at + 1 : end if end >= 0 else len(self.text)]
            self.at = end + 2 if end >= 0 else len(self.text)
            return Group(Seq(tuple(self._literal(ch) for ch in quoted)))
        found = self._class_escape()
        if isinstance(found, str):
            return self._literal(found)
        return Char(found)

    def _class_escape(self) -> str | _Ranges:
        """After a backslash: one character, or a class (``\\d``, ``\\pL``)."""
        text = self.text
        if self.at >= len(text):
            raise Unreadable("trailing backslash")
        char = text[self.at]
        self.at += 1
        if char.lower() in _CLASSES:
            ranges = _CLASSES[char.lower()]
            return _negate(ranges) if char.isupper() else ranges
        if char in "pP":
            if self._peek() == "{":
                end = text.find("}", self.at)
                if end < 0:
                    raise Unreadable("unterminated \\p{…}")
                self.at = end + 1
            else:
                self.at += 1
            return _ANY
        if char == "C":
            return _ANY
        if char == "x":
            hexa = re.compile(r"\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2})").match(text, self.at)
            if hexa is None:
                raise Unreadable("bad \\x escape")
            self.at = hexa.end()
            return chr(int(hexa[1] or hexa[2], 16))
        if char in "01234567":
            octal = re.compile(r"[0-7]{0,2}").match(text, self.at)
            assert octal is not None  # [0-7]{0,2} always matches
            if char != "0" and len(octal[0]) < 2:
                raise Unreadable(f"back-reference \\{char}")
            self.at = octal.end()
            return chr(int(char + octal[0], 8))
        if char in _CONTROL:
            return _CONTROL[char]
        if char.isalnum():
            raise Unreadable(f"unknown escape \\{char}")
        return char

    def _class(self) -> Char:
        text = self.text
        negate = self._peek() == "^"
        if negate:
            self.at += 1
        pairs: list[tuple[int, int]] = []
        first = True
        while True:
            if self.at >= len(text):
                raise Unreadable("missing ']'")
            char = text[self.at]
            if char == "]" and not first:
                self.at += 1
                break
            first = False
            if text.startswith("[:", self.at):
                end = text.find(":]", self.at)
                if end < 0:
                    raise Unreadable("unterminated [:class:]")
                pairs.extend(_POSIX.get(text[self.at + 2 : end], _ANY))
                self.at = end + 2
                continue
            low = self._class_char()
            if not isinstance(low, str):
                pairs.extend(low)
                continue
            if text.startswith("-", self.at) and self.at + 1 < len(text) and (
                text[self.at + 1] != "]"
            ):
                self.at += 1
                high = self._class_char()
                if not isinstance(high, str):
                    raise Unreadable("a range ends in a class")
                pairs.append((ord(low), ord(high)))
            else:
                pairs.append((ord(low), ord(low)))
        ranges = _ranges(pairs)
        if self.fold:
            ranges = _fold(ranges)
        return Char(_negate(ranges) if negate else ranges)

    def _class_char(self) -> str | _Ranges:
        char = self.text[self.at]
        self.at += 1
        return self._class_escape() if char == "\\" else char


# -- what the tree says -------------------------------------------------------------------


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Seq):
        return node.items
    if isinstance(node, Alt):
        return node.branches
    if isinstance(node, Group | Repeat | Look):
        return (node.body,)
    return ()


def walk(node: Node) -> Iterable[Node]:
    yield node
    for child in _children(node):
        yield from walk(child)


def nullable(node: Node) -> bool:
    if isinstance(node, Char):
        return False
    if isinstance(node, Seq):
        return all(nullable(item) for item in node.items)
    if isinstance(node, Alt):
        return any(nullable(branch) for branch in node.branches)
    if isinstance(node, Group):
        return nullable(node.body)
    if isinstance(node, Repeat):
        return node.low == 0 or nullable(node.body)
    return True  # assertions and look-arounds consume nothing


def _lead(node: Node) -> list[Char]:
    """The plain characters a branch starts with, up to the first anything else."""
    out: list[Char] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Char):
            out.append(item)
        elif isinstance(item, Seq | Group):
            stack.extend(reversed(_children(item)))
        else:
            break
    return out


def distinct(a: Node, b: Node) -> bool:
    """Whether no text can start both branches (a position where their characters differ)."""
    return any(not _overlap(x.ranges, y.ranges) for x, y in zip(_lead(a), _lead(b), strict=False))



def needles(node: Node, shortest: int = _MIN_NEEDLE) -> frozenset[str] | None:
    """Literals one of which every match contains (each of ``shortest``+ characters), or
    None."""
    best: frozenset[str] | None = None

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found and (best is None or min(map(len, found)) > min(map(len, best))):
            best = found

    if isinstance(node, Alt):
        union: set[str] = set()
        for branch in node.branches:
            found = needles(branch, shortest)
            if not found:
                return None
            union |= found
        return frozenset(union)
    if isinstance(node, Group):
        return needles(node.body, shortest)
    if isinstance(node, Repeat):
        return needles(node.body, shortest) if node.low >= 1 else None
    items = node.items if isinstance(node, Seq) else (node,)
    run: list[str] = []
    for item in [*items, None]:
        if isinstance(item, Char) and item.literal:
            letter = item.literal.lower() if item.folded else item.literal
            if not item.folded or letter.isascii():
                run.append(letter)
                continue
        elif isinstance(item, Assert):
            continue  # zero width: the letters around it are still side by side
        if len(run) >= shortest:
            consider(frozenset({"".join(run)}))
        run = []
        if isinstance(item, Group | Alt | Repeat):
            consider(needles(item, shortest))
    return best
