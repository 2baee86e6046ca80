"""Python source as facts: resolved calls, decorators and base classes, matched against a table.

A `.py` file or the code cells of a notebook become one `SourceScan`: every import alias is
resolved to its fully qualified name (`import mlflow as mf` makes `mf.log_metric` read
`mlflow.log_metric`; `client = MlflowClient()` makes `client.create_model_version` read
`mlflow.tracking.MlflowClient().create_model_version`), so detectors match qualified names and
comments, docstrings and strings are never evidence. `Detector`s are plain data; `match_scan`
runs a table of them over a scan and returns `Hit`s.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

UNRESOLVED = "~"  # prefix of a name not bound by any import or tracked assignment
_NB_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


# -- loading ---------------------------------------------------------------------------------
@dataclass
class NotebookCode:
    """Code cells of one notebook joined into one text, with a map back to the cells."""

    code: str
    cells: list[tuple[int, list[str]]]  # (cell index, source lines) of code cells
    line_map: list[tuple[int, int]]  # joined line (0-based) -> (position in cells, line in cell)
    markdown_cells: int = 0
    magics: list[str] = field(default_factory=list)

    def cell_of(self, line: int) -> tuple[int, int] | None:
        """(cell index, 1-based line in that cell) of a joined line."""
        if not 0 < line <= len(self.line_map):
            return None
        pos, n = self.line_map[line - 1]
        return self.cells[pos][0], n + 1


def notebook_code(text: str) -> NotebookCode | None:
    """The code cells of an .ipynb (v3 or v4), magics blanked; None when it is not JSON."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    cells = data.get("cells")
    if cells is None:  # nbformat 3
        sheets = data.get("worksheets") or [{}]
        cells = sheets[0].get("cells") if isinstance(sheets[0], dict) else None
    if not isinstance(cells, list):
        return None
    out = NotebookCode(code="", cells=[], line_map=[])
    lines: list[str] = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        if cell.get("cell_type") != "code":
            out.markdown_cells += cell.get("cell_type") == "markdown"
            continue
        source = cell.get("source", cell.get("input", ""))
        src_lines = "".join(source).splitlines() if isinstance(source, list) else str(source).splitlines()
        pos = len(out.cells)
        out.cells.append((index, src_lines))
        for n, line in enumerate(src_lines):
            stripped = line.lstrip()
            if stripped.startswith(("%", "!", "?")) or stripped.endswith("?"):
                out.magics.append(stripped)
                line = ""
            lines.append(line)
            out.line_map.append((pos, n))
    out.code = "\n".join(lines)
    return out


#: CPython before 3.11.8/3.12.1 keeps ast.parse's recursion-depth bookkeeping per process, so two
#: threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
#: (gh-106905); the parse holds the GIL anyway, so one at a time costs no parallelism
_AST_LOCK = threading.Lock()


def parse_python(text: str) -> ast.Module | None:
    """The module's AST, or None for anything that is not Python 3 (py2, templates)."""
    try:
        with _AST_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# Project templates (cookiecutter/copier Jinja, Databricks bundle Go templates) and Databricks
# notebook sources (`# Databricks notebook source` with bare `%pip`/`%cd` lines) are Python with
# a little foreign syntax. Whole-line tags and magics become blank lines (line numbers kept) and
# `{{ expr }}` an identifier; a line mixing a tag with code still fails, as before.
_TAG_LINE = re.compile(r"^\s*(?:\{%-?\s*(\w*).*?-?%\}|\{\{-?\s*(\w*).*?-?\}\}|\{#.*?#\})\s*$")
_EXPR = re.compile(r"\{\{-?(.*?)-?\}\}")
_OPEN = {"if", "for", "range", "with", "block", "macro", "unless"}
_CLOSE = {"endif", "endfor", "end", "endblock", "endmacro", "endwith", "endunless"}
_MAGIC_LINE = re.compile(r"^[ \t]*(?:%%?[A-Za-z]|![A-Za-z./~])", re.MULTILINE)


def _placeholder(m: re.Match[str]) -> str:
    return "_".join(re.findall(r"\w+", m.group(1))) or "_"


def detemplate(text: str) -> tuple[str, frozenset[int]] | None:
    """Template text as parseable Python, with the (1-based) lines inside `{% if %}` blocks;
    None when there is nothing to rewrite."""
    if "{{" not in text and "{%" not in text and not _MAGIC_LINE.search(text):
        return None
    out: list[str] = []
    stack: list[str] = []
    conditional: set[int] = set()
    changed = False
    for n, line in enumerate(text.split("\n"), 1):
        m = _TAG_LINE.match(line)
        if m:
            word = (m.group(1) or m.group(2) or "").lower()
            if word in _OPEN:
                stack.append(word)
            elif word in _CLOSE and stack:
                stack.pop()
            out.append("")
            changed = True
            continue
        if _MAGIC_LINE.match(line):
            out.append("")
            changed = True
            continue
        if "if" in stack or "unless" in stack or "with" in stack:
            conditional.add(n)
        if "{{" in line:
            new = _EXPR.sub(_placeholder, line)
            changed = changed or new != line
            line = new
        out.append(line)
    return ("\n".join(out), frozenset(conditional)) if changed else None


def parse_notebook(nb: NotebookCode) -> ast.Module | None:
    """Each code cell parsed on its own (one broken cell does not lose the others), joined.

    The cells are first parsed together, in one pass (measured 8-18 % less time than one pass per
    cell, each padded to its joined line numbers): that is the tree of the cells parsed one by one
    whenever it parses and no statement crosses from one cell into the next (a decorator above
    its `def`, a bracket or block left open). Otherwise the cells are parsed one by one."""
    if any(src and src[-1].endswith("\\") for _, src in nb.cells):
        # a cell ending in a line continuation joins the next cell's first line (or a comment)
        # without any token of it: no statement's span would show that it crosses
        return _parse_cells_one_by_one(nb)
    joined = _parse_cells_together(nb)
    if joined is not None:
        return joined if joined.body else None
    return _parse_cells_one_by_one(nb)


def _compile_cell(chunk: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compile(chunk, "<cell>", "exec", flags=_NB_FLAGS)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _parse_cells_one_by_one(nb: NotebookCode) -> ast.Module | None:
    """Each code cell parsed alone, padded to its joined line numbers; the bodies joined."""
    body: list[ast.stmt] = []
    lines = nb.code.split("\n")
    start = 0
    for _, src in nb.cells:
        # blank lines before the cell put its nodes at their joined line numbers
        tree = _compile_cell("\n" * start + "\n".join(lines[start : start + len(src)]))
        if tree is not None:
            body.extend(tree.body)
        start += len(src)
    return ast.Module(body=body, type_ignores=[]) if body else None


def _parse_cells_together(nb: NotebookCode) -> ast.Module | None:
    """The notebook's code parsed in one pass, where every top-level statement (with its
    decorators) lies within one cell; None otherwise. At a boundary between two statements the
    tokenizer holds nothing open (no bracket, string, continuation or indented block), so each
    cell reads as it would alone (`parse_notebook` keeps cells ending in a continuation away)."""
    tree = _compile_cell(nb.code)
    if tree is None:
        return None
    line_map = nb.line_map
    for stmt in tree.body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        last = stmt.end_lineno or stmt.lineno
        if not 0 < first <= last <= len(line_map) or line_map[first - 1][0] != line_map[last - 1][0]:
            return None
    return tree


#: the fields of each node type that can hold nodes: all but `ctx`, whose Load/Store/Del marks
#: hold nothing and are a third of all nodes, and those that only ever hold names, numbers or
#: constants (the most frequent nodes are leaves: looking at their fields finds nothing)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_NO_NODES: dict[type, frozenset[str]] = {
    ast.Name: frozenset({"id"}), ast.Constant: frozenset({"value", "kind"}), ast.Attribute: frozenset({"attr"}),
    ast.keyword: frozenset({"arg"}), ast.alias: frozenset({"name", "asname"}), ast.arg: frozenset({"arg"}),
    ast.ImportFrom: frozenset({"module", "level"}), ast.FunctionDef: frozenset({"name"}),
    ast.AsyncFunctionDef: frozenset({"name"}), ast.ClassDef: frozenset({"name"}),
}


def _child_fields(cls: type) -> tuple[str, ...]:
    skip = _NO_NODES.get(cls, frozenset())
    fields = tuple(name for name in cls._fields  # type: ignore[attr-defined]
                   if name != "ctx" and name != "type_comment" and name not in skip)
    _CHILD_FIELDS[cls] = fields
    return fields


try:  # the walk in C (collectors/git/_astwalk.c), where it was built; the same nodes in the same order
    from mlaudit.collectors.git._astwalk import walk as _c_walk
except ImportError:  # pragma: no cover - an install without a C compiler
    _c_walk = None

#: whether the walk runs in C (`mlaudit -v scan` says which)
WALK_IN_C = _c_walk is not None


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below `node` (depth first), expression contexts left out; several times
    faster than `ast.walk` (in Python), about five times faster again in C."""
    if _c_walk is not None:
        return iter(_walk_c([node]))
    return _walk_py([node], None)


def walk_outside(stack: list[ast.AST], skip: frozenset[type]) -> Iterator[ast.AST]:
    """Every node below those on `stack` (which it consumes), not entering nodes whose type is
    in `skip` (nor yielding them)."""
    if _c_walk is not None:
        nodes = _walk_c(stack, skip=skip)
        stack.clear()
        return iter(nodes)
    return _walk_py(stack, skip)


def walk_select(node: ast.AST, kinds: Mapping[type, Any], counts: dict[str, int] | None = None) -> list[ast.AST]:
    """The nodes below `node` whose type is a key of `kinds`, in `walk`'s order; with `counts`,
    every `ast.Name` met also adds one to `counts[name]` (whether or not it is selected)."""
    if _c_walk is not None:
        return _walk_c([node], select=kinds, counts=counts)
    out = []
    name = ast.Name
    for n in _walk_py([node], None):
        cls = n.__class__
        if counts is not None and cls is name:
            counts[n.id] = counts.get(n.id, 0) + 1  # type: ignore[attr-defined]
        if cls in kinds:
            out.append(n)
    return out


def _walk_c(roots: list[ast.AST], select: Mapping[type, Any] | None = None, skip: frozenset[type] | None = None,
            counts: dict[str, int] | None = None) -> list[ast.AST]:
    """The C walk (`_astwalk.walk`) with this module's field table."""
    return _c_walk(roots, ast.AST, _CHILD_FIELDS, _child_fields, select, skip, ast.Name, counts)  # type: ignore[misc]


def _walk_py(stack: list[ast.AST], skip: frozenset[type] | None) -> Iterator[ast.AST]:
    AST = ast.AST
    child_fields = _CHILD_FIELDS
    while stack:
        n = stack.pop()
        cls = n.__class__
        if skip is not None and cls in skip:
            continue
        yield n
        names = child_fields.get(cls)
        if names is None:
            names = _child_fields(cls)
        for name in names:
            value = getattr(n, name, None)
            if value.__class__ is list:
                stack.extend([v for v in value if isinstance(v, AST)])
            elif isinstance(value, AST):
                stack.append(value)


# -- resolution ------------------------------------------------------------------------------
def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def words_of(name: str) -> list[str]:
    """Lower-cased words of an identifier or string: `SageMakerTrainingOp` -> sage, maker, ..."""
    return [w.lower() for w in _WORD.findall(name)]


#: node types `SourceScan._collect` keeps, by class (the parser makes no subclasses), each mapped
#: to the branch that takes it
_COLLECTED: dict[type, type] = {
    ast.Import: ast.Import, ast.ImportFrom: ast.ImportFrom, ast.Call: ast.Call, ast.ClassDef: ast.ClassDef,
    **dict.fromkeys((ast.Assign, ast.AnnAssign, ast.With, ast.AsyncWith, ast.arg), ast.Assign),
    **dict.fromkeys((ast.FunctionDef, ast.AsyncFunctionDef), ast.FunctionDef),
}


@dataclass
class SourceScan:
    """The facts of one Python source (a module, or a notebook's code cells)."""

    path: str
    tree: ast.Module
    lines: list[str]
    notebook: NotebookCode | None = None
    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    modules: set[str] = field(default_factory=set)  # every imported module/name, qualified
    instances: dict[str, str] = field(default_factory=dict)  # `x` / `self.x` -> "Q()"
    calls: list[tuple[str, ast.Call]] = field(default_factory=list)
    decorators: list[tuple[str, ast.expr, ast.AST]] = field(default_factory=list)
    bases: list[tuple[str, ast.ClassDef]] = field(default_factory=list)
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=list)
    classes: list[ast.ClassDef] = field(default_factory=list)
    import_lines: dict[str, int] = field(default_factory=dict)
    decorated: dict[int, ast.AST] = field(default_factory=dict)  # id(decorator) -> its def
    memo: dict[str, Any] = field(default_factory=dict)  # per-scan caches of derived facts
    conditional: frozenset[int] = frozenset()  # lines inside a template's `{% if %}` block
    #: how often each name (`ast.Name`) occurs, where `build` was asked to count them
    name_counts: dict[str, int] | None = None

    @classmethod
    def build(cls, path: str, text: str, count_names: bool = False,
              notebook: NotebookCode | None = None) -> SourceScan | None:
        """The facts of one source; None when it is not Python. `count_names`: also count every
        `ast.Name` in the same walk (what a test module's targets are read from). `notebook`: the
        code cells of a notebook's `text`, where the caller has read them already (a notebook's
        JSON is often megabytes of outputs: decoded once)."""
        nb: NotebookCode | None = None
        if path.endswith(".ipynb"):
            nb = notebook if notebook is not None else notebook_code(text)
            if nb is None:
                return None
            tree = parse_notebook(nb)
            source = nb.code
        else:
            tree = parse_python(text)
            source = text
        conditional: frozenset[int] = frozenset()
        if tree is None and nb is None:
            fixed = detemplate(text)
            if fixed is not None:
                tree = parse_python(fixed[0])
                conditional = fixed[1]
        if tree is None:
            return None
        scan = cls(path=path, tree=tree, lines=source.split("\n"), notebook=nb, conditional=conditional)
        if count_names:
            scan.name_counts = {}
        scan._collect()
        return scan

    # facts ----------------------------------------------------------------------------------
    def _collect(self) -> None:
        assigns: list[ast.AST] = []
        calls: list[ast.Call] = []
        kinds = _COLLECTED
        for node in walk_select(self.tree, kinds, self.name_counts):
            kind = kinds[node.__class__]
            if kind is ast.Import:
                for alias in node.names:
                    self.modules.add(alias.name)
                    self._import_at(alias.name, node.lineno)
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                    else:
                        head = alias.name.split(".")[0]
                        self.imports.setdefault(head, head)
            elif kind is ast.ImportFrom:
                base = "." * node.level + (node.module or "")
                if node.module:
                    self.modules.add(base)
                    self._import_at(base, node.lineno)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    full = f"{base}.{alias.name}" if base and not base.endswith(".") else base + alias.name
                    self.modules.add(full)
                    self.imports[alias.asname or alias.name] = full
            elif kind is ast.Assign:
                assigns.append(node)
            elif kind is ast.Call:
                calls.append(node)
            elif kind is ast.FunctionDef:
                self.functions.append(node)
            else:
                self.classes.append(node)
        for node in sorted(assigns, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))):
            self._track(node)
        decorator_calls: set[int] = set()
        for fn in [*self.functions, *self.classes]:
            for deco in fn.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(deco, ast.Call):
                    decorator_calls.add(id(deco))
                qual = self.resolve(target)
                self.decorated[id(deco)] = fn
                if qual:
                    self.decorators.append((qual, deco, fn))
        for cdef in self.classes:
            for base in cdef.bases:
                qual = self.resolve(base)
                if qual:
                    self.bases.append((qual, cdef))
        for call in calls:
            if id(call) in decorator_calls:
                continue
            qual = self.resolve(call.func)
            if qual:
                self.calls.append((qual, call))

    def _import_at(self, module: str, line: int) -> None:
        self.import_lines[module] = min(self.import_lines.get(module, line), line)

    def _track(self, node: ast.AST) -> None:
        """Remember which names hold instances of a resolved call (`x = Q(...)` -> x: "Q()")."""
        pairs: list[tuple[ast.AST, ast.AST]] = []
        if isinstance(node, ast.Assign):
            pairs = [(t, node.value) for t in node.targets]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = [(node.target, node.value)]
        elif isinstance(node, ast.With | ast.AsyncWith):
            pairs = [(i.optional_vars, i.context_expr) for i in node.items if i.optional_vars is not None]
        elif isinstance(node, ast.arg) and node.annotation is not None:
            qual = self.resolve(node.annotation)
            if qual and not qual.startswith(UNRESOLVED):
                self.instances[node.arg] = qual + "()"
            return
        for target, value in pairs:
            name = dotted(target)
            # `x = Q(...)` holds an instance; `x = Q(...).attr.attr` an alias of what it reaches
            if not name or not (isinstance(value, ast.Call) or (
                    isinstance(value, ast.Attribute) and isinstance(target, ast.Name))):
                continue
            qual = self.resolve(value)
            if qual and not qual.startswith(UNRESOLVED):
                self.instances[name] = qual

    def resolve(self, node: ast.AST) -> str | None:
        """The qualified name an expression stands for; unbound names keep a `~` prefix."""
        if isinstance(node, ast.Name):
            if node.id in self.instances:
                return self.instances[node.id]
            if node.id in self.imports:
                return self.imports[node.id]
            return UNRESOLVED + node.id
        if isinstance(node, ast.Attribute):
            name = dotted(node)
            if name and name in self.instances:
                return self.instances[name]
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            base = self.resolve(node.func)
            return base + "()" if base else None
        return None

    def imports_any(self, prefixes: Iterable[str]) -> bool:
        """Whether some imported module is one of `prefixes` or lies below one (`mlflow` for
        `mlflow.tracking`)."""
        below = self._imported_under
        return any(p in below for p in prefixes)

    @cached_property
    def _imported_under(self) -> frozenset[str]:
        """Every module imported and every package above one (`a.b.c`: a, a.b, a.b.c), made once
        `_collect` is done (a scan asks several prefixes of every rule)."""
        out: set[str] = set()
        for m in self.modules:
            out.add(m)
            at = m.find(".")
            while at >= 0:
                out.add(m[:at])
                at = m.find(".", at + 1)
        return frozenset(out)

    # locations --------------------------------------------------------------------------------
    def source_line(self, line: int) -> str:
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""

    @cached_property
    def parents(self) -> dict[int, ast.AST]:
        out: dict[int, ast.AST] = {}
        for node in walk(self.tree):
            for child in ast.iter_child_nodes(node):
                out[id(child)] = node
        return out

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        parents = self.parents
        while id(node) in parents:
            node = parents[id(node)]
            yield node

    @cached_property
    def words(self) -> set[str]:
        """Words of every identifier and short string: what the code is about."""
        out: set[str] = set()
        for node in walk(self.tree):
            name = None
            if isinstance(node, ast.Name):
                name = node.id
            elif isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = node.name
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 120:
                name = node.value
            elif isinstance(node, ast.alias):
                name = node.name
            if name:
                out.update(words_of(name))
        return out


_SOURCE_KEY = re.compile(r'"(?:source|input)"\s*:')


def raw_notebook_line(raw: str, nb: NotebookCode, line: int) -> int | None:
    """The line of the .ipynb JSON holding a joined code line, found after its cell's source key."""
    where = nb.cell_of(line)
    if where is None:
        return None
    cell_index, n = where
    src = next((lines for idx, lines in nb.cells if idx == cell_index), None)
    starts = [m.start() for m in _SOURCE_KEY.finditer(raw)]
    if src is None or cell_index >= len(starts):
        return None
    pos = starts[cell_index]
    end = starts[cell_index + 1] if cell_index + 1 < len(starts) else len(raw)
    found = None
    for text in src[:n]:
        found = None
        for enc in (json.dumps(text, ensure_ascii=False)[1:-1], json.dumps(text)[1:-1]):
            idx = raw.find(enc, pos, end) if enc else -1
            if idx >= 0:
                found, pos = idx, idx + max(len(enc), 1)
                break
    return raw.count("\n", 0, found) + 1 if found is not None else None


# -- detectors -------------------------------------------------------------------------------
Hook = Callable[["SourceScan", ast.AST, str], "Mapping[str, Any] | None"]


@dataclass(frozen=True)
class Detector:
    """One row of a detector table: which qualified names mean `signal` for `tool`.

    Patterns are shell globs over qualified names (`mlflow.*autolog`, `*.transition_model_version_stage`).
    `kwargs` requires any of these keywords on the call; `kwarg_values` requires a keyword with
    one of the given string values; `requires_import` gates patterns on unresolved receivers;
    `requires_path` needs a file in the repository; `hook` may veto (None) or add attributes.
    """

    signal: str
    tool: str
    calls: tuple[str, ...] = ()
    decorators: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    kwargs: tuple[str, ...] = ()
    kwarg_values: tuple[tuple[str, tuple[str, ...]], ...] = ()
    requires_import: tuple[str, ...] = ()
    requires_path: tuple[str, ...] = ()
    attrs: tuple[tuple[str, Any], ...] = ()
    hook: Hook | None = None


@dataclass
class Hit:
    signal: str
    tool: str
    path: str
    line: int
    excerpt: str
    attrs: dict[str, Any]
    notebook: bool = False


_ROOT_END = re.compile(r"[.(]")


def roots(pattern: str) -> tuple[str | None, str | None]:
    """Index keys of a pattern: its literal first segment, else its literal last segment."""
    head = _ROOT_END.split(pattern, maxsplit=1)[0]
    if head and not any(c in head for c in "*?["):
        return head, None
    leaf = pattern.rsplit(".", 1)[-1].lstrip("*")
    if leaf and not any(c in leaf for c in "*?[()"):
        return None, leaf
    return None, None


class DetectorIndex:
    """A table compiled for fast lookup: candidates by root module or by method name.

    A pattern is compiled the first time a call, decorator or base it could match is met (most
    of the table's ~500 patterns never are in a given estate: compiling them all cost the worker
    server a tenth of a second at every run), and the candidates of each (kind, root, leaf) are
    kept once found."""

    #: (kind, root, leaf) lookups remembered at most (then forgotten together and found again)
    MEMO_MAX = 16384

    def __init__(self, table: Iterable[Detector]) -> None:
        self.table = list(table)
        self.by_root: dict[tuple[str, str], list[tuple[str, Detector]]] = {}
        self.by_leaf: dict[tuple[str, str], list[tuple[str, Detector]]] = {}
        self.anywhere: dict[str, list[tuple[str, Detector]]] = {}
        self.import_rules: list[tuple[str, Detector]] = []
        self._compiled: dict[str, re.Pattern[str]] = {}
        self._memo: dict[tuple[str, str, str], tuple[tuple[re.Pattern[str], Detector], ...]] = {}
        self._matching: dict[tuple[str, str], tuple[Detector, ...]] = {}
        for det in self.table:
            for kind, patterns in (("call", det.calls), ("decorator", det.decorators), ("base", det.bases)):
                for pat in patterns:
                    root, leaf = roots(pat)
                    if root:
                        self.by_root.setdefault((kind, root), []).append((pat, det))
                    elif leaf:
                        self.by_leaf.setdefault((kind, leaf), []).append((pat, det))
                    else:
                        self.anywhere.setdefault(kind, []).append((pat, det))
            # (which files are worth parsing at all is the prefilter's: prefilter.py)
            for mod in det.imports:
                self.import_rules.append((mod, det))

    def _pattern(self, pat: str) -> re.Pattern[str]:
        rx = self._compiled.get(pat)
        if rx is None:
            rx = self._compiled[pat] = re.compile(fnmatch.translate(pat))
        return rx

    def candidates(self, kind: str, qual: str) -> tuple[tuple[re.Pattern[str], Detector], ...]:
        root = _ROOT_END.split(qual, maxsplit=1)[0]
        leaf = qual.rsplit(".", 1)[-1].lstrip(UNRESOLVED).removesuffix("()")
        key = (kind, root, leaf)
        found = self._memo.get(key)
        if found is None:
            found = tuple((self._pattern(pat), det) for pat, det in (
                *self.by_root.get((kind, root), ()),
                *self.by_leaf.get((kind, leaf), ()),
                *self.anywhere.get(kind, ()),
            ))
            if len(self._memo) >= self.MEMO_MAX:
                self._memo.clear()
            self._memo[key] = found
        return found

    def matching(self, kind: str, qual: str) -> tuple[Detector, ...]:
        """The rows whose `kind` pattern matches the qualified name `qual`, in table order: a
        function of the name alone, so each name is matched once per process (a module's calls
        repeat a few names: `np.array`, `self.log`, `pd.read_csv`)."""
        key = (kind, qual)
        found = self._matching.get(key)
        if found is None:
            found = tuple(det for rx, det in self.candidates(kind, qual) if rx.match(qual))
            if len(self._matching) >= self.MEMO_MAX:
                self._matching.clear()
            self._matching[key] = found
        return found


def _keywords(node: ast.AST) -> list[ast.keyword]:
    return node.keywords if isinstance(node, ast.Call) else []


def _string_values(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value.lower()]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [v for elt in node.elts for v in _string_values(elt)]
    return []


def _accepts(det: Detector, scan: SourceScan, node: ast.AST, paths_ok: Callable[[Detector], bool]) -> bool:
    if det.kwargs and not any(k.arg in det.kwargs for k in _keywords(node)):
        return False
    for name, wanted in det.kwarg_values:
        values = [v for k in _keywords(node) if k.arg == name for v in _string_values(k.value)]
        if not any(v in wanted for v in values):
            return False
    if det.requires_import and not scan.imports_any(det.requires_import):
        return False
    return paths_ok(det)


def match_scan(index: DetectorIndex, scan: SourceScan, paths_ok: Callable[[Detector], bool]) -> list[Hit]:
    """Every table row that a call, decorator, base class or import of the scan satisfies."""
    hits: list[Hit] = []
    nb = scan.notebook is not None

    def emit(det: Detector, node: ast.AST, qual: str, line: int) -> None:
        attrs: dict[str, Any] = dict(det.attrs)
        if det.hook is not None:
            extra = det.hook(scan, node, qual)
            if extra is None:
                return
            attrs.update(extra)
        tool = attrs.pop("tool", det.tool)
        hits.append(Hit(det.signal, tool, scan.path, line, scan.source_line(line), attrs, nb))

    for qual, call in scan.calls:
        for det in index.matching("call", qual):
            if _accepts(det, scan, call, paths_ok):
                emit(det, call, qual, call.lineno)
    for qual, deco, _fn in scan.decorators:
        for det in index.matching("decorator", qual):
            if _accepts(det, scan, deco, paths_ok):
                emit(det, deco, qual, deco.lineno)
    for qual, cdef in scan.bases:
        for det in index.matching("base", qual):
            if _accepts(det, scan, cdef, paths_ok):
                emit(det, cdef, qual, cdef.lineno)
    for mod, det in index.import_rules:
        if scan.imports_any((mod,)) and paths_ok(det):
            line = min((ln for m, ln in scan.import_lines.items() if m == mod or m.startswith(mod + ".")),
                       default=1)
            emit(det, scan.tree, mod, line)
    return hits
