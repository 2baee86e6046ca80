"""Which blobs can carry code evidence, decided before any parse.

Parsing (`ast.parse` and `SourceScan.build`) is the expensive part of reading a repository's
Python, and most modules of an estate mention no tool at all. A qualified name a detector
matches is made only of identifiers written in the file (`import mlflow as mf` ... `mf.log_metric`
reads `mlflow.log_metric`, and both `mlflow` and `log_metric` are in the text), so every literal
run of a detector's pattern must occur in a file for the pattern to match there, as a whole
identifier where the pattern bounds it (`mlflow.` starts and ends a name; `*Logger` only ends one).

`Prefilter` is generated from the tables: one keyword per pattern (its longest literal run), the
keywords of `*` patterns gated by call keywords, the modules of import rules, and the extra
conditions of structural detectors. They are compiled into one regular expression shaped as a
trie (one branch per character, so one pass over the text whatever the number of keywords); a
file is parsed only when it matches, or when a structural condition holds. Template text
(`{{ ... }}`, whose placeholders become new identifiers when it is parsed) is always parsed.

A keyword written only in comments and string literals cannot make a detector match (the parser
turns neither into names), so a second look (`code_text`) searches the text with comments and
plain strings blanked out, tokenized by Python's own lexical rules; f-strings, whose braces hold
code, are kept whole.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

_WORD_CHARS = "A-Za-z0-9_"
_BEFORE = rf"(?<![{_WORD_CHARS}])"
_AFTER = rf"(?![{_WORD_CHARS}])"
# glob metacharacters and the separators of qualified names (`a.b`, `Q().m`, `~unbound`)
_CLASS = re.compile(r"\[[^\]]*\]")
_RUN = re.compile(r"[A-Za-z0-9_]+")
_SEPARATORS = set(".()~")


@dataclass(frozen=True, order=True)
class Keyword:
    """A literal that must occur in a file; `start`/`end`: it starts/ends an identifier there."""

    text: str
    start: bool = True
    end: bool = True

    def covers(self, other: Keyword) -> bool:
        """True when this keyword occurs wherever `other` does (so it stands in for `other`)."""
        if self.text == other.text:
            return (other.start or not self.start) and (other.end or not self.end)
        at = other.text.find(self.text)
        while at >= 0:
            starts_at_edge = at == 0
            ends_at_edge = at + len(self.text) == len(other.text)
            ok_start = not self.start or (starts_at_edge and other.start)
            ok_end = not self.end or (ends_at_edge and other.end)
            if ok_start and ok_end:
                return True
            at = other.text.find(self.text, at + 1)
        return False


def literal_runs(pattern: str) -> list[Keyword]:
    """Every literal run of a glob over qualified names, with the boundaries the pattern fixes:
    `mlflow.*.log_model` -> mlflow (whole name), log_model (whole name)."""
    text = _CLASS.sub("*", pattern)
    out = []
    for m in _RUN.finditer(text):
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        out.append(Keyword(m.group(), before == "" or before in _SEPARATORS,
                           after == "" or after in _SEPARATORS))
    return out


#: words too common in ordinary code to stand for a pattern when the pattern has a better one
#: (choosing among a pattern's literals changes only how many files are parsed, never what is found)
COMMON = frozenset({
    "get", "post", "put", "patch", "delete", "route", "source", "table", "view", "register", "deploy",
    "serve", "load", "loads", "run", "log", "init", "start", "connect", "read", "sql", "config",
    "update", "pipeline", "Pipeline", "Task", "Model", "Run", "Session", "Client", "Flow", "Service",
    "Entity", "Dataset", "Asset", "Counter", "Gauge", "Summary", "Histogram", "metadata", "schedule",
    "every", "models", "jobs", "core", "entities", "steps", "dsl", "web", "operators", "providers",
    "aws", "amazon", "google", "cloud", "ts", "api", "workflow", "job", "op", "asset", "graph",
    "create", "transformer", "Transformer", "Experiment", "Logger", "Callback", "resource", "execute",
})


def _score(run: Keyword, head: bool) -> tuple[int, int]:
    if run.text in COMMON or len(run.text) < 3:
        return (0, len(run.text))
    return (1, len(run.text) + (4 if head else 0) + run.start + run.end)


def required_keyword(pattern: str) -> Keyword | None:
    """The one keyword kept for a pattern: its most telling literal run (a module it starts
    with, else the longest uncommon one); None for a pattern without any (`*`)."""
    runs = literal_runs(pattern)
    if not runs:
        return None
    head = not pattern.startswith(("*", "?", "["))
    return max(runs, key=lambda k: _score(k, head and k is runs[0]))


def telling(keyword: Keyword | None) -> bool:
    """Whether a keyword is specific enough to be preferred to the modules a detector requires."""
    return keyword is not None and _score(keyword, False)[0] == 1 and len(keyword.text) >= 6


@dataclass(frozen=True)
class Condition:
    """A structural detector's own condition: every regular expression must match the text,
    and the text then holds one of `words` (what a byte search looks for)."""

    name: str
    all_of: tuple[str, ...]
    words: tuple[str, ...]


#: one way a file can matter: every clause holds, a clause being a set of keywords any one of
#: which occurs (`mlflow.*.log_model` under `requires_import=("mlflow",)`: {mlflow}, {log_model})
Requirement = tuple[frozenset[Keyword], ...]
_IDENT = re.compile(r"[A-Za-z0-9_]+")
#: every ASCII character but those of `_IDENT` made a space
_SEPARATE = str.maketrans({c: " " for c in map(chr, range(128)) if not _IDENT.fullmatch(c)})


def _whole(k: Keyword) -> bool:
    return k.start and k.end


def _bounded(k: Keyword, compiled: dict[Keyword, re.Pattern[str]]) -> re.Pattern[str]:
    """The search for a keyword that is part of a name (compiled on first use, kept in
    `compiled`: most are never needed, and compiling them all slowed every worker's start)."""
    rx = compiled.get(k)
    if rx is None:
        rx = compiled[k] = re.compile((_BEFORE if k.start else "") + re.escape(k.text) + (_AFTER if k.end else ""))
    return rx


class _Present:
    """Which keywords a text holds: whole identifiers from one set of its words, the others
    (a prefix or suffix of a name) by their own compiled search, asked once."""

    __slots__ = ("text", "words", "_seen", "_searches")

    def __init__(self, text: str, searches: dict[Keyword, re.Pattern[str]]) -> None:
        self.text = text
        # (ASCII text, nearly all code: every other character a space, then split, twice as fast
        # as the expression and the same words)
        self.words = set(text.translate(_SEPARATE).split()) if text.isascii() else set(_IDENT.findall(text))
        self._seen: dict[Keyword, bool] = {}
        self._searches = searches

    def holds(self, k: Keyword) -> bool:
        if k.start and k.end:
            return k.text in self.words
        found = self._seen.get(k)
        if found is None:  # (a plain substring test first: most texts hold none of these)
            found = self._seen[k] = k.text in self.text and _bounded(k, self._searches).search(self.text) is not None
        return found

    def meets(self, req: Requirement) -> bool:
        for clause in req:
            for k in clause:
                if self.holds(k):
                    break
            else:
                return False
        return True


class Prefilter:
    """One compiled search for many keywords, plus a few conjunctions (see the module).

    With `requirements`, a text the search accepts is looked at once more: it is wanted when
    every clause of some requirement holds (every literal of some pattern, the import the
    pattern is gated on, ...), or a conjunction does. Each requirement holds wherever its
    detector can match, so this only spares parses of files that merely mention a module."""

    def __init__(self, keywords: Iterable[Keyword], conditions: Iterable[Condition] = (),
                 requirements: Iterable[Requirement] | None = None) -> None:
        self.keywords = frozenset(keywords)
        self.conditions = tuple(conditions)
        self._rx = re.compile(_trie_regex(self.keywords))
        self._conds = [[re.compile(rx, re.M) for rx in c.all_of] for c in self.conditions]
        self._grep: str | None = None
        self._perl: str | None = None
        self.requirements: tuple[Requirement, ...] | None = None
        self._by_word: dict[str, list[Requirement]] = {}
        self._unanchored: list[Requirement] = []
        self._searches: dict[Keyword, re.Pattern[str]] = {}
        if requirements is not None:
            # whole names first (a set lookup each), then the clauses that need a search
            self.requirements = tuple(dict.fromkeys(
                tuple(sorted(req, key=lambda c: (not all(map(_whole, c)), len(c)))) for req in requirements))
            for req in self.requirements:
                # indexed by the names of a clause every text meeting it holds one of, whole
                anchors = [c for c in req if all(map(_whole, c))]
                if anchors:
                    for k in min(anchors, key=len):
                        self._by_word.setdefault(k.text, []).append(req)
                else:
                    self._unanchored.append(req)
        #: whether a text meeting a requirement always holds a keyword: every requirement has a
        #: clause each of whose keywords some keyword of the search stands in for. Then the
        #: search is only a first look that `meets` repeats, and is skipped (it costs what
        #: `meets` does: a text it accepts is looked at twice)
        self._search_implied = self.requirements is not None and all(
            any(all(k in self.keywords or self.covers(k) for k in clause) for clause in req)
            for req in self.requirements)

    def wanted(self, text: str) -> bool:
        if "{{" in text or "{%" in text:
            return True  # a template: its placeholders become identifiers when parsed
        if self.requirements is None:
            if self._rx.search(text) is not None:
                return True
        elif (self._search_implied or self._rx.search(text) is not None) and self.meets(text):
            return True
        return any(all(rx.search(text) for rx in conj) for conj in self._conds)

    def meets(self, text: str) -> bool:
        """Whether the text meets one of the requirements."""
        present = _Present(text, self._searches)
        by_word = self._by_word
        for word in present.words & by_word.keys():
            for req in by_word[word]:
                if present.meets(req):
                    return True
        return any(present.meets(req) for req in self._unanchored)

    def grep_pattern(self) -> str:
        """The same keywords as one POSIX extended regular expression for `git grep -E` (GNU
        `\\<`/`\\>` for word boundaries, as this module's look-arounds); it also matches the words
        of the conditions and template marks, so every file `wanted` accepts matches it. Made once
        (every repository's scan asks for it)."""
        if self._grep is None:
            parts = [("\\<" if k.start else "") + _ere_escape(k.text) + ("\\>" if k.end else "")
                     for k in sorted(self.keywords)]
            self._grep = "|".join(parts + [_ere_escape(w) for w in self._also_words()])
        return self._grep

    def perl_pattern(self) -> str:
        """The same search as `grep_pattern`, as a Perl-compatible expression (`git grep -P`):
        the keyword search itself (its look-arounds bound names as `\\<`/`\\>` do), the words of
        the conditions and template marks."""
        if self._perl is None:
            self._perl = "|".join([f"(?:{self._rx.pattern})", *map(re.escape, self._also_words())])
        return self._perl

    def _also_words(self) -> list[str]:
        """What the byte search matches besides the keywords: the words of the conditions and
        the template marks (every file `wanted` accepts holds one of them or a keyword)."""
        return [w for c in self.conditions for w in c.words] + ["{{", "{%"]

    def covers(self, keyword: Keyword) -> bool:
        return any(k.covers(keyword) for k in self.keywords)


def _ere_escape(text: str) -> str:
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def _trie_regex(keywords: frozenset[Keyword]) -> str:
    """`(?<!\\w)(?:trie of keywords that start a name)|(?:trie of the others)`; a keyword that ends
    a name carries a look-ahead at its leaf."""
    parts = []
    for start in (True, False):
        group = sorted(k for k in keywords if k.start == start)
        if group:
            body = _trie([(k.text, k.end) for k in group])
            parts.append((_BEFORE if start else "") + f"(?:{body})")
    return "|".join(parts) if parts else r"(?!x)x"


def _trie(words: list[tuple[str, bool]]) -> str:
    """A regex matching exactly these words (each with its end condition), factored by prefix."""
    ends: set[bool] = set()
    children: dict[str, list[tuple[str, bool]]] = {}
    for text, end in words:
        if not text:
            ends.add(end)
        else:
            children.setdefault(text[0], []).append((text[1:], end))
    alts = [re.escape(ch) + (_trie(rest) if any(t for t, _ in rest) or len(rest) > 1
                             else (_AFTER if rest[0][1] else ""))
            for ch, rest in sorted(children.items())]
    if ends:
        alts.append("" if False in ends else _AFTER)  # a bare end accepts either way
    if len(alts) == 1:
        return alts[0]
    return "(?:" + "|".join(alts) + ")"


# -- comments and strings -------------------------------------------------------------------------
_QUOTED = (r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*+"""'
           r"|'\'\'(?:[^'\\]|\\[\s\S]|'(?!''))*+'\'\'"
           r'|"(?:[^"\\\r\n]|\\[\s\S])*+"'
           r"|'(?:[^'\\\r\n]|\\[\s\S])*+'")
#: one token of what decides a keyword: an f-string (kept: its braces hold code), any other
#: string literal or a comment (blanked), a run of code up to the next quote or `#` (kept; it
#: takes identifiers whole, so `return"x"` reads as a keyword and a string and `bar"` never
#: starts a bytes literal), or an identifier a quote follows
_LEXEME = re.compile(
    rf"(?P<f>(?:[fF][rR]?|[rR][fF])(?:{_QUOTED}))"
    rf"|(?P<blank>(?:[rRbBuU]|[bB][rR]|[rR][bB])?(?:{_QUOTED})|#[^\r\n]*+)"
    r"|(?P<f_open>(?:[fF][rR]?|[rR][fF])['\"])"
    r"|(?:[^\"'#\w]++|\w++(?![\w\"']))++"
    r"|\w++")
#: Python 3.12 lets an f-string's braces hold its own quotes (PEP 701): past the first f-string
#: the text is kept as it is
_NESTED_FSTRINGS = sys.version_info >= (3, 12)


def code_text(text: str) -> str:
    """`text` with its comments and non-f string literals blanked out (each becomes one space),
    by Python's lexical rules: every identifier the parser would see is still there, whole.
    Text that does not tokenize (an unterminated string) is kept as it is from there on."""
    out: list[str] = []
    pos = 0
    for m in _LEXEME.finditer(text):
        kind = m.lastgroup
        if kind is None:
            continue  # an identifier: kept with the text around it
        if kind == "blank":
            out.append(text[pos:m.start()])
            out.append(" ")
            pos = m.end()
        elif kind == "f_open" or _NESTED_FSTRINGS:
            break  # an unterminated f-string, or braces that may hold quotes: keep the rest
    out.append(text[pos:])
    return "".join(out)
