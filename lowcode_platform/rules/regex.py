"""The safe subset of durable_rules' regex dialect (`$mt`, `$imt`), translated for Python and PostgreSQL.

durable_rules escapes with `%` (a `\\` is a literal), treats `^` and `$` as literals and always matches
the whole value. The subset: literal characters, `.`, `%d` (a digit), `%w` (an ASCII letter or digit),
`%` before a metacharacter, classes such as `[a-z0-9_]`, groups with `|`, and `*`, `+`, `?`, `{n}`,
`{n,}`, `{,m}`, `{n,m}` with counts up to 100. Outside it: negated classes (durable_rules answers them
unreliably), other `%` classes (some crash it), a repeated group that itself repeats, which can take
exponential time to match, a group offering an open-ended repetition as one of its alternatives, and a
repeated group whose alternatives begin alike (durable_rules fails to build `(.*|aa)ab`, `a{2}(%w|a%d)*b`). The translation uses syntax Python's `re` and PostgreSQL's regular
expressions read the same way, so a pattern means one thing in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PATTERN_LENGTH = 200
MAX_COUNT = 100
META = set(".*+?|()[]{}%")
CLASSES = {"d": "[0-9]", "w": "[A-Za-z0-9]"}
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class RegexError(ValueError):
    """A pattern outside the safe subset; the message says why."""


@dataclass(frozen=True)
class Translated:
    """A pattern anchored on the whole value, in syntax Python and PostgreSQL share."""

    source: str
    pattern: str  # `(?s)\A(?:...)\Z`, for a search; for `$imt`, literals lowered, matched against the value lowered
    ignore_case: bool
    body: str  # the pattern without anchors

    def compile(self) -> re.Pattern[str]:
        """The pattern for `fullmatch` (what `pattern` finds with a search)."""
        return re.compile(f"(?s)(?:{self.body})")


def lower_ascii(text: str) -> str:
    """`text` with A-Z lowered and nothing else changed (how durable_rules' `$imt` folds case)."""
    return text.translate(ASCII_LOWER)


def _literal(char: str) -> str:
    if char.isalnum() or char == " " or ord(char) > 127:
        return char
    if ord(char) < 32 or ord(char) == 127:  # four hex digits: PostgreSQL reads \x greedily
        return f"\\u{ord(char):04x}"
    return "\\" + char


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.i = 0
        self.open_ended = 0  # open-ended repetitions read so far
        self.ranges = 0  # repetitions of a variable count ({m,n}, n > m, n > 1) read so far
        self.quantified = 0  # repetitions of any kind read so far
        self.first_chars: frozenset[str] = frozenset()  # what the sequence just read may begin with
        self.group_ambiguous = False  # whether the group just read has alternatives that begin alike
        self.atom_ambiguous = False  # the same, for the atom just read
        self.atom_chars: frozenset[str] | None = None  # for a group just read: every character it may match
        self.collected: list[set[str]] = []  # the characters of each group being read, innermost last

    def fail(self, message: str) -> RegexError:
        return RegexError(f"{message} (at character {self.i + 1})")

    def peek(self) -> str | None:
        return self.source[self.i] if self.i < len(self.source) else None

    def take(self) -> str:
        """The next character as written (`$imt` lowers literals outside classes, not inside, like durable_rules)."""
        char = self.source[self.i]
        self.i += 1
        return char


    def alternation(self, depth: int) -> tuple[str, bool]:
        """Branches separated by `|`; returns the translation and whether anything in it repeats."""
        branches: list[str] = []
        firsts: list[frozenset[str]] = []
        repeats = open_ended = False
        start = self.i
        while True:
            before = self.open_ended
            text, branch_repeats = self.sequence(depth)
            if not text:
                raise self.fail("an empty pattern or alternative")
            branches.append(text)
            firsts.append(self.first_chars)
            repeats |= branch_repeats
            open_ended |= self.open_ended > before
            if self.peek() != "|":
                if open_ended and len(branches) > 1 and depth > 0:
                    self.i = start
                    raise self.fail("a group may not offer an open-ended repetition (*, +, {n,}) as one of its "
                                    "alternatives: durable_rules fails to build some such patterns")
                self.group_ambiguous = any(a & b for n, a in enumerate(firsts) for b in firsts[n + 1:])
                return "|".join(branches), repeats
            self.i += 1

    def sequence(self, depth: int) -> tuple[str, bool]:
        parts: list[str] = []
        shapes: list[tuple[frozenset[str] | None, str]] = []  # what each step matches, and how often
        repeats = False
        start = self.i
        first: set[str] = set()
        settled = False  # whether an atom that must match came already: what follows cannot begin the sequence
        ranged: list[bool] = []  # per atom: whether it is, or holds, a repetition of a variable count
        counted: list[bool] = []  # per atom: whether it is, or holds, a repetition of any kind
        while (char := self.peek()) is not None and char not in "|)":
            at = self.i
            ranges_before, quantified_before = self.ranges, self.quantified
            atom, atom_repeats = self.atom(depth)
            ambiguous, group_chars = self.atom_ambiguous, self.atom_chars
            quantifier = self.quantifier()
            shapes += _shape(atom, quantifier, atom_repeats, group_chars)
            if self.collected:
                self.collected[-1].update(shapes[-1][0])
            if not settled:
                first |= shapes[-1][0]
                settled = quantifier not in ("?", "*") and not quantifier.startswith("{0")
            if quantifier and ambiguous:
                self.i = at
                raise self.fail("a repeated group's alternatives must begin with different characters (durable_rules "
                                "fails to build some such patterns): write (a|b%d)* rather than (%w|a%d)*")
            if quantifier in ("*", "+") or quantifier.endswith(",}"):
                self.open_ended += 1
            counts = re.fullmatch(r"\{([0-9]+),([0-9]+)\}", quantifier)
            if counts and int(counts.group(2)) > max(1, int(counts.group(1))):
                self.ranges += 1
            ranged.append(self.ranges > ranges_before)
            if quantifier:
                self.quantified += 1
            counted.append(self.quantified > quantified_before)
            if quantifier:
                if atom_repeats:
                    raise self.fail("a repeated group may not itself repeat")
                if self.peek() is not None and self.peek() in "*+?{":
                    raise self.fail("two repetitions in a row")
                repeats = True
            repeats |= atom_repeats
            parts.append(atom + quantifier)
        self.first_chars = frozenset(first)
        whole = depth == 0 and start == 0 and self.peek() is None
        anything = (frozenset(PROBE), "star")
        ends = [n for n in (0, len(shapes) - 1) if len(shapes) > 1 and shapes[n] == anything]
        if whole and ends and any(c for n, c in enumerate(counted) if n not in ends):
            self.i = start
            raise self.fail("a pattern that begins or ends with .* may not repeat anything else (durable_rules "
                            "fails to build many such patterns): write .*acme.* or ERP-%d{4}, not .*%d{4}x")
        if any(ranged[n] and any(kind != "fixed" and chars & shapes[n][0] for chars, kind in shapes[:n])
               for n in range(len(shapes))):
            self.i = start
            raise self.fail("a repetition of a variable count ({m,n}) after an open-ended one (*, +, {n,}) that can "
                            "match the same characters is not in the safe subset (durable_rules fails to build "
                            "some): use a fixed count or ?")
        if _overlapping_repetitions(shapes, whole=whole):
            self.i = start
            raise self.fail("two open-ended repetitions (*, +, {n,}) here can match the same characters, which "
                            "durable_rules fails to build; make their characters differ (a leading or trailing .* "
                            "is fine)")
        return "".join(parts), repeats

    def atom(self, depth: int) -> tuple[str, bool]:
        self.atom_ambiguous, self.atom_chars = False, None
        char = self.source[self.i]
        if char == "(":
            if depth >= 5:
                raise self.fail("groups nested more than 5 deep")
            self.i += 1
            self.collected.append(set())
            inner, repeats = self.alternation(depth + 1)
            if self.peek() != ")":
                raise self.fail("a group that is not closed")
            self.i += 1
            self.atom_ambiguous, self.atom_chars = self.group_ambiguous, frozenset(self.collected.pop())
            return f"(?:{inner})", repeats
        if char == "[":
            return self.bracket(), False
        if char == "%":
            self.i += 1
            escaped = self.peek()
            if escaped is None:
                raise self.fail("a pattern that ends with %")
            self.i += 1
            if escaped in CLASSES:
                return CLASSES[escaped], False
            if escaped in META or escaped in "^$\\":
                return _literal(escaped), False
            raise self.fail(f"%{escaped} is not in the safe subset (use %d, %w or %-escaped metacharacters)")
        if char in "*+?{":
            raise self.fail(f"{char!r} repeats nothing")
        if char in "]}":
            raise self.fail(f"an unmatched {char!r}")
        self.i += 1
        if char == ".":
            return ".", False
        return _literal(char), False

    def bracket(self) -> str:
        self.i += 1
        if self.peek() == "^":
            raise self.fail("negated classes [^...] are not in the safe subset")
        items: list[str] = []
        while (char := self.peek()) != "]":
            if char is None:
                raise self.fail("a class that is not closed")
            low = self.take()
            if low == "%":
                if self.peek() is None:
                    raise self.fail("a pattern that ends with %")
                raise self.fail("% inside [...] is not in the safe subset (durable_rules reads such classes "
                                "unreliably): list the characters, e.g. [0-9a-z.]")
            if self.peek() == "-" and self.i + 1 < len(self.source) and self.source[self.i + 1] != "]":
                self.i += 1
                high = self.take()
                if high == "%":
                    raise self.fail("a range may not end with an escape")
                if ord(high) < ord(low):
                    raise self.fail(f"the range {low}-{high} is reversed")
                items.append(f"{_literal(low)}-{_literal(high)}")
            else:
                items.append(_literal(low))
        self.i += 1
        if not items:
            raise self.fail("an empty class []")
        return "[" + "".join(items) + "]"

    def quantifier(self) -> str:
        char = self.peek()
        if char is None or char not in "*+?{":
            return ""
        self.i += 1
        if char != "{":
            return char
        end = self.source.find("}", self.i)
        body = self.source[self.i:end] if end >= 0 else ""
        match = re.fullmatch(r"([0-9]{1,3})?(,([0-9]{1,3})?)?", body)
        if end < 0 or not body or match is None or (match.group(1) is None and match.group(3) is None):
            raise self.fail("a repetition count must read {n}, {n,}, {,m} or {n,m}")
        self.i = end + 1
        low = int(match.group(1) or 0)
        high = None if match.group(2) and match.group(3) is None else int(match.group(3) or low)
        if low > MAX_COUNT or (high is not None and high > MAX_COUNT):
            raise self.fail(f"repetition counts may be at most {MAX_COUNT}")
        if high is not None and high < low:
            raise self.fail("a repetition count's maximum is below its minimum")
        if not match.group(1):
            raise self.fail("write {0,m} rather than {,m} (durable_rules reads {,m} as {0,})")
        if high is None:
            return f"{{{low},}}"
        return f"{{{low}}}" if low == high and not match.group(2) else f"{{{low},{high}}}"


PROBE = [chr(c) for c in range(32, 127)] + ["\n", "\u00e9", "\u4e2d"]


def _shape(atom: str, quantifier: str, repeats: bool,
           chars: frozenset[str] | None = None) -> list[tuple[frozenset[str], str]]:
    """How `atom quantifier` repeats (`fixed`, `star` or `plus`; a group holding a repetition repeats), and the
    characters it may match (`chars`, for a group: those of everything in it)."""
    if chars is None:
        compiled = re.compile(atom, re.DOTALL)  # a character, a class or `.`: each matches one character
        chars = frozenset(c for c in PROBE if compiled.fullmatch(c))
    if quantifier in ("*", "{0,}"):
        return [(chars, "star")]
    if quantifier == "+" or re.fullmatch(r"\{[0-9]+,\}", quantifier) or repeats:
        return [(chars, "plus")]
    return [(chars, "fixed")]


def _overlapping_repetitions(shapes: list[tuple[frozenset[str], str]], whole: bool) -> bool:
    """Whether two open-ended repetitions of one sequence share characters: durable_rules' DFA builder fails
    on many such patterns (error 503, or worse), so the safe subset has none. A whole pattern may still begin
    and end with `.*`."""
    repeated = [(i, chars) for i, (chars, kind) in enumerate(shapes) if kind != "fixed"]
    if whole:
        anything = frozenset(PROBE)
        repeated = [(i, chars) for i, chars in repeated
                    if not (chars == anything and shapes[i][1] == "star" and i in (0, len(shapes) - 1))]
    return any(a & b for n, (_, a) in enumerate(repeated) for _, b in repeated[n + 1:])


def translate(source: str, ignore_case: bool = False) -> Translated:
    """The translation of a durable_rules pattern, or `RegexError` when it is outside the safe subset."""
    if not source:
        raise RegexError("an empty pattern")
    if len(source) > MAX_PATTERN_LENGTH:
        raise RegexError(f"patterns may be at most {MAX_PATTERN_LENGTH} characters")
    if ignore_case and (re.search("[A-Z]", source.replace("%%", "")) or "%w" in source):
        raise RegexError("write $imt patterns in lower case and without %w (durable_rules folds them wrongly): "
                         "the value is lowered before it is matched")
    parser = _Parser(source)
    body, _ = parser.alternation(0)
    if parser.i != len(source):
        raise parser.fail("an unmatched ')'")
    return Translated(source, f"(?s)\\A(?:{body})\\Z", ignore_case, body)
