"""Code-based detectors of the git collector: what the repository's Python actually calls.

Every `.py` file and the code cells of every notebook are considered once. The prefilter
(`prefilter.py`, generated from the table) rules files out before they are read or parsed; the
rest become `SourceScan`s (resolved calls, decorators and base classes) matched against
`DETECTORS`, the table of plain data in `codetable.py` (adding a tool is one row there). A few
detections need more than one fact (a web route plus a model load, a schedule plus training
code); they combine the table's internal facts (signals starting with `_`). Tests are found and
weighed in `testdetect.py`, declared dependencies read in `deps.py`. Evidence is kept small: per
repository, signal and tool at most three sample items, the first carrying `occurrences`.
"""

from __future__ import annotations

import ast
import functools
import logging
import posixpath
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from mlaudit.collectors.git.codetable import (  # noqa: F401 - the table, re-exported for callers
    BI,
    DETECTORS,
    DP,
    DV,
    FRAMEWORK_MODULES,
    FRAMEWORK_PACKAGES,
    MAX_LISTED,
    MAX_SAMPLES,
    MM,
    SKIP_DIR_NAMES,
    SKIP_DIRS,
    SV,
    _d,
    data_stage,
    framework_of,
)
from mlaudit.collectors.git.deps import declared_frameworks, package_framework
from mlaudit.collectors.git.prefilter import (
    Condition,
    Keyword,
    Prefilter,
    Requirement,
    code_text,
    literal_runs,
    required_keyword,
    telling,
)
from mlaudit.collectors.git.pyscan import (
    _MAGIC_LINE,
    UNRESOLVED,
    Detector,
    DetectorIndex,
    Hit,
    NotebookCode,
    SourceScan,
    match_scan,
    notebook_code,
    raw_notebook_line,
    walk,
    words_of,
)
from mlaudit.collectors.git.testdetect import (  # noqa: F401 - re-exported
    TEST_FILE_GLOBS,
    _asserting_tests,
    _local_top_names,
    _ml_targets,
    _test_functions,
    _test_validation,
    is_harness,
    is_test_file,
    runner_invoked_tests,
)
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

log = logging.getLogger(__name__)

# -- reading the repository ------------------------------------------------------------------
_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w., \t]+))", re.MULTILINE)
_INDEX = DetectorIndex(DETECTORS)
#: the tools' own modules the table's patterns start with (`mlflow`, `wandb`, `airflow`, ...)
_TOOL_ROOTS = frozenset(root for _, root in _INDEX.by_root if root.isidentifier())


#: False parses every Python file and notebook (the prefilter's reference; tests compare both)
USE_PREFILTER = True
#: a test file is worth parsing for its test functions (`test*`) even when it names no tool
_TEST_NAME = re.compile(r"(?<![A-Za-z0-9_])test")
#: identifiers the census looks for beyond framework modules: training calls (`.fit(...)`)
_CENSUS_LEAVES = ("fit", "fit_generator", "train")


def prefilter_keywords() -> set[Keyword]:
    """Every keyword the prefilter needs, derived from the tables (see `prefilter`): a required
    literal of every pattern (or, for a bare `*`, the call keywords it is gated on), the module of
    every import rule, the framework modules and training calls of the census, and the
    identifiers structural detectors look for."""
    out: set[Keyword] = set()
    for det in DETECTORS:
        for pat in (*det.calls, *det.decorators, *det.bases):
            kw = required_keyword(pat)
            needs = [required_keyword(m) for m in det.requires_import]
            if needs and all(needs) and not telling(kw):
                out.update(k for k in needs if k is not None)  # the import it is gated on
            elif kw is not None:
                out.add(kw)
            elif det.kwargs:
                out.update(Keyword(k) for k in det.kwargs)
            else:
                raise ValueError(f"detector {det.signal}/{det.tool}: pattern {pat!r} has no keyword")
        out.update(k for k in map(required_keyword, det.imports) if k is not None)
    out.update(k for k in map(required_keyword, FRAMEWORK_MODULES) if k is not None)
    out.update(Keyword(leaf) for leaf in _CENSUS_LEAVES)
    for keywords, _, _ in STRUCTURAL_NEEDS.values():
        out.update(keywords)
    return out


def _all_of(name: str) -> Requirement:
    """Every literal of a pattern or module, each a clause of its own."""
    return tuple(frozenset((k,)) for k in literal_runs(name))


def prefilter_requirements() -> list[Requirement]:
    """What a file must hold for each way it can matter, derived from the tables as the keywords
    are (see `prefilter`), but whole: every literal of a pattern (a qualified name is made of
    the file's identifiers), with the import the detector is gated on (`requires_import`) and
    the call keywords it asks for (`kwargs`, `kwarg_values`); every literal of an import rule's
    module and of a framework module; a training call; a structural detector's identifiers."""
    out: list[Requirement] = []
    for det in DETECTORS:
        gates: list[frozenset[Keyword]] = []
        needs = [required_keyword(m) for m in det.requires_import]
        if needs and all(needs):
            gates.append(frozenset(k for k in needs if k is not None))
        if det.kwargs:
            gates.append(frozenset(Keyword(k) for k in det.kwargs))
        gates.extend(frozenset((Keyword(name),)) for name, _ in det.kwarg_values)
        for pat in (*det.calls, *det.decorators, *det.bases):
            req = (*_all_of(pat), *gates)
            if not req:
                raise ValueError(f"detector {det.signal}/{det.tool}: pattern {pat!r} has no keyword")
            out.append(req)
        out.extend(_all_of(m) for m in det.imports if literal_runs(m))
    out.extend(_all_of(m) for m in FRAMEWORK_MODULES)
    out.extend((frozenset((Keyword(leaf),)),) for leaf in _CENSUS_LEAVES)
    for name, (keywords, _, _) in STRUCTURAL_NEEDS.items():
        out.extend(STRUCTURAL_WHOLE.get(name) or [(frozenset((k,)),) for k in keywords])
    return out


#: the modules the byte search runs over: every `.py` but the tests (read whatever they hold: their
#: test functions are what is looked for) and the folders never read (`SKIP_DIRS`). Git skips
#: those blobs without inflating them (5-8 % of the search's CPU on the benchmark organisations).
GREP_PATHSPECS = ["*.py", *(f":(exclude,glob){g}" for g in TEST_FILE_GLOBS),
                  *(f":(exclude,glob)**/{name}/**" for name in SKIP_DIR_NAMES)]


@functools.cache
def code_prefilter() -> Prefilter:
    conditions = [Condition(name, conj, words) for name, (_, conj, words) in STRUCTURAL_NEEDS.items() if conj]
    return Prefilter(prefilter_keywords(), conditions, prefilter_requirements())


def prefilter_wants(text: str, testing: bool = False) -> bool:
    """`code_prefilter().wanted`, and for a test module also a name starting `test`: the same
    answer as one prefilter holding that keyword too (it would be a requirement of its own), without
    compiling the whole search twice. (The name first: nearly every test module holds one, and
    it is one short search, where the prefilter is many.)"""
    return (testing and _TEST_NAME.search(text) is not None) or code_prefilter().wanted(text)


def _wanted(text: str, testing: bool = False, cells: list[str] | None = None) -> bool:
    """The prefilter: can the file carry anything a detector, the census or a test looks for?

    A keyword found only in comments and plain strings does not count (`code_text`), except where
    the file might not parse as it reads: template text and magics (rewritten before parsing) and
    a file whose import lines name a framework (the census reads those lines when it does not
    parse). A notebook's `cells` are tokenized one by one, as they are parsed."""
    if not USE_PREFILTER:
        return True
    if "{{" in text or "{%" in text or _MAGIC_LINE.search(text):
        return prefilter_wants(text, testing)
    # a file whose import lines name a framework first: most files wanted are (`import torch`
    # is itself a requirement met), and it spares blanking their comments and strings
    if any(_fallback_frameworks(text)) and prefilter_wants(text, testing):
        return True
    # (a keyword of the text without its comments and strings is one of the text: no need to
    # search the whole text first)
    return prefilter_wants("\n".join(map(code_text, cells if cells is not None else [text])), testing)


@dataclass
class RepoFacts:
    """Everything gathered from one repository's Python before evidence is assembled."""

    hits: list[Hit] = field(default_factory=list)
    notebooks: dict[str, NotebookCode] = field(default_factory=dict)
    frameworks: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # name -> paths
    training_entry_points: set[str] = field(default_factory=set)
    notebook_ml_cells: int = 0
    python_files: int = 0
    notebook_files: int = 0
    local_imports: dict[str, set[str]] = field(default_factory=dict)  # path -> local modules it imports
    tests: list[tuple[str, list[tuple[str, int]], set[str]]] = field(default_factory=list)


def analyze_code(view: RepoView) -> list[EvidenceItem]:
    """Evidence from the repository's Python files and notebook code cells."""
    facts = RepoFacts()
    local_tops = _local_top_names(view)
    invoked = runner_invoked_tests(view)
    path_cache: dict[Detector, bool] = {}

    def paths_ok(det: Detector) -> bool:
        if not det.requires_path:
            return True
        if det not in path_cache:
            path_cache[det] = bool(view.glob(*det.requires_path))
        return path_cache[det]

    # modules whose bytes hold no keyword at all, found by one byte search in git: never read
    pf = code_prefilter()
    began = time.perf_counter()
    matching = view.grep(pf.grep_pattern(), GREP_PATHSPECS, perl=pf.perl_pattern()) if USE_PREFILTER and view.grep else None
    view.read_s += time.perf_counter() - began  # (git reads the blobs it searches)
    view.prefetch(e.path for e in view.with_suffix(".py", ".ipynb") if not SKIP_DIRS.search(e.path) and (
        e.suffix == ".ipynb" or (_SCANS.get(e.sha) is None and (
            matching is None or e.path in matching or is_test_file(e.path) or e.path in invoked))))
    for entry in list(view.with_suffix(".py", ".ipynb")):
        path = entry.path
        if SKIP_DIRS.search(path):
            continue
        notebook = entry.suffix == ".ipynb"
        if notebook:
            facts.notebook_files += 1
        else:
            facts.python_files += 1
            if posixpath.basename(path).startswith("train") and not is_test_file(path) and "{{" not in path:
                facts.training_entry_points.add(path)
        testing = not notebook and (is_test_file(path) or path in invoked)
        if matching is not None and not notebook and not testing and path not in matching \
                and entry.suffix == ".py":
            view.searched += 1
            continue
        cached = _SCANS.get(entry.sha)
        view.cache_lookups += 1
        view.cache_hits += cached is not None
        if isinstance(cached, _Notebook) and notebook:
            _declared_in_magics(cached.code, path, facts)
            if isinstance(cached.scan, SourceScan):
                _use_scan(_at_path(cached.scan, path), cached.code, False, facts, local_tops, paths_ok)
            view.reused += 1
            continue
        if cached is _UNWANTED and not testing and not notebook:
            view.reused += 1
            continue  # identical content was already found irrelevant: not even read
        if isinstance(cached, SourceScan) and not notebook:
            _use_scan(_at_path(cached, path), None, testing, facts, local_tops, paths_ok)
            view.reused += 1
            continue
        # read outside the guard below: an unreadable object is the repository's error, not a
        # file to skip quietly
        text = view.text(path)
        if not text:
            continue
        try:
            _scan_file(view, path, text, notebook, facts, local_tops, paths_ok, testing, entry.sha)
        except (RecursionError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            log.debug("skipping %s:%s: %s", view.name, path, exc)
    _oversize_notebooks(view, facts)
    return _assemble(view, facts)


#: an import statement opening a line of notebook source, as nbformat keeps it in JSON: each line
#: a string (`"import sklearn\n",`), or one string for the cell (`"...\nfrom torch import nn"`)
_NB_IMPORT = r'("|\\n)(import|from)[[:space:]]+[A-Za-z_][A-Za-z0-9_.]*'
_NB_IMPORT_PARTS = re.compile(r'(?:"|\\n)(?:import|from)\s+([A-Za-z_][\w.]*)')


def _oversize_notebooks(view: RepoView, facts: RepoFacts) -> None:
    """Notebooks too large to read whole (their outputs: plots, tables) still show their imports
    to a byte search in git: the frameworks they import count for the census, as the import lines
    of a module that does not parse do. Nothing else is taken from them (no detector runs on a
    notebook that was not parsed). An import in a markdown cell's prose ("we import sklearn") or
    in a traceback's output does not open a source line, so it is not taken.

    Searched only where the rest of the repository imports no framework: that is where it decides
    whether the repository holds ML code at all (a notebook-only project whose notebooks carry
    their plots). Elsewhere the search would add names to a census that already says "ML", and it
    costs a pass of git over every large notebook (0.1 s for 14 MB of them)."""
    if any(not name.startswith("declared:") for name in facts.frameworks):
        return
    big = sorted(p for p in view.oversize if p.endswith(".ipynb") and not SKIP_DIRS.search(p))
    if not big or view.grep_matches is None:
        return
    began = time.perf_counter()
    found = view.grep_matches(_NB_IMPORT, big) or {}
    view.read_s += time.perf_counter() - began
    for path, matches in found.items():
        for match in matches:
            m = _NB_IMPORT_PARTS.match(match)
            name = framework_of(m.group(1)) if m else None
            if name:
                facts.frameworks[name].add(path)


class _ScanCache:
    """Parsed Python keyed by blob id, shared across the repositories one process scans.

    Estates repeat files verbatim (templates, copied helpers, vendored modules, empty
    `__init__.py`): git names identical content by the same blob id, so each is read and parsed
    once. Bounded by the source bytes it holds, least recently used first out.
    """

    def __init__(self, max_source_bytes: int = 256 * 1024, max_file: int = 32 * 1024) -> None:
        self.max_source_bytes, self.max_file = max_source_bytes, max_file
        self._items: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, sha: str) -> object:
        with self._lock:
            hit = self._items.get(sha)
            if hit is None:
                return None
            self._items.move_to_end(sha)
            return hit[0]

    def put(self, sha: str, value: object, size: int) -> None:
        if size > self.max_file:
            return
        with self._lock:
            if sha in self._items:
                return
            self._items[sha] = (value, size)
            self._bytes += size
            while self._bytes > self.max_source_bytes and self._items:
                _, (_, old) = self._items.popitem(last=False)
                self._bytes -= old


_PATH_GATED = tuple(d for d in DETECTORS if d.requires_path)


@dataclass(frozen=True)
class _Notebook:
    """A notebook's code cells and their parse (None when nothing in them is relevant)."""

    code: NotebookCode
    scan: SourceScan | None
_UNWANTED = object()
_SCANS = _ScanCache()


def _at_path(scan: SourceScan, path: str) -> SourceScan:
    """The cached parse of identical content, placed at another path. Derived facts depend on
    the content only, so they are carried over rather than recomputed."""
    moved = replace(scan, path=path)
    moved.__dict__.update({k: v for k, v in scan.__dict__.items() if k not in moved.__dataclass_fields__})
    return moved


def _scan_file(view: RepoView, path: str, text: str, notebook: bool, facts: RepoFacts,
               local_tops: set[str], paths_ok: Callable[[Detector], bool], testing: bool = False,
               sha: str | None = None) -> None:
    nb_code = None
    if notebook:
        began = time.perf_counter()
        nb_code = notebook_code(text)
        view.parse_s += time.perf_counter() - began
        if nb_code is None:
            return
        _declared_in_magics(nb_code, path, facts)
        if not _wanted(nb_code.code, cells=_cell_texts(nb_code)):
            if sha:
                _SCANS.put(sha, _Notebook(nb_code, None), len(text))
            return
    elif testing and USE_PREFILTER:
        # nearly every test module is wanted (its test functions are named `test*`), so it is
        # parsed first and the prefilter asked only when the parse shows no test function:
        # the same decision, without blanking every test module's comments and strings
        if not prefilter_wants(text, testing=True):
            return  # no keyword even in the raw text
        scan = _build(view, path, text, count_names=True)
        if scan is None or not any(True for _ in _test_functions(scan.tree)):
            if not _wanted(text, testing):
                return
        view.parsed += 1
        if scan is None:
            if "{{" not in text:
                _census_fallback(path, text, facts)
            return
        if sha:
            _SCANS.put(sha, scan, len(text))
        _use_scan(scan, nb_code, testing, facts, local_tops, paths_ok)
        return
    elif not _wanted(text, testing):
        if sha and not testing:
            _SCANS.put(sha, _UNWANTED, len(text))
        return
    scan = _build(view, path, text, notebook=nb_code)
    view.parsed += 1
    if sha and notebook and nb_code is not None:
        _SCANS.put(sha, _Notebook(nb_code, scan), len(text))
    if scan is None:
        if not notebook and "{{" not in text:
            _census_fallback(path, text, facts)
        return
    if sha and not notebook:
        _SCANS.put(sha, scan, len(text))
    _use_scan(scan, nb_code, testing, facts, local_tops, paths_ok)


def _build(view: RepoView, path: str, text: str, **options: Any) -> SourceScan | None:
    """`SourceScan.build`, its time counted as the repository's parse time (`-v`)."""
    began = time.perf_counter()
    try:
        return SourceScan.build(path, text, **options)
    finally:
        view.parse_s += time.perf_counter() - began


def _cell_texts(nb: NotebookCode) -> list[str]:
    """A notebook's code cells as it parses them (magics blanked), one text each."""
    lines = nb.code.split("\n")
    out, start = [], 0
    for _, src in nb.cells:
        out.append("\n".join(lines[start : start + len(src)]))
        start += len(src)
    return out


def _use_scan(scan: SourceScan, nb_code: NotebookCode | None, testing: bool, facts: RepoFacts,
              local_tops: set[str], paths_ok: Callable[[Detector], bool]) -> None:
    """Everything one parsed file contributes to the repository's facts."""
    path = scan.path
    if nb_code is not None:
        facts.notebooks[path] = nb_code
    _census(scan, facts)
    facts.local_imports[path] = {m for m in scan.modules if m.startswith(".") or m.split(".")[0] in local_tops}
    if testing:
        asserting = _asserting_tests(scan)
        facts.tests.append((path, asserting, _ml_targets(scan, local_tops) if asserting else set()))
        facts.hits.extend(_test_validation(scan))
        return
    if is_harness(scan):
        return
    hits = _matches(scan, paths_ok, _tool_reexports(scan, local_tops))
    if any(h.signal == DV and h.tool == "great_expectations" for h in hits) and _gx_reads_only(scan):
        hits = [h for h in hits if not (h.signal == DV and h.tool == "great_expectations")]
    facts.hits.extend(hits)


#: Great Expectations calls that read what others validated (stored suites, results, stores)
_GX_READ = re.compile(r"^(get_\w*|list_\w*|open_data_docs|keys|load|from_json|to_json_dict)$")
#: ... calls that define or run checks (expectations, suites, validators, checkpoints, datasets)
_GX_CHECKS = re.compile(r"(?i)expect|validat|checkpoint|suite|dataset|from_pandas|read_|run")
#: ... and the contexts a module may open only to hand on to the code that validates
_GX_CONTEXTS = frozenset({"get_context", "DataContext", "FileDataContext", "EphemeralDataContext",
                          "BaseDataContext"})


def _gx_reads_only(scan: SourceScan) -> bool:
    """Whether a module's Great Expectations calls only read (stored suites and validation results,
    store plumbing, data docs) and none defines or runs a check: a reader of GX projects is not
    data validation. A module that only opens a context is left counted (it hands it on)."""
    leaves = {qual.rstrip("()").rsplit(".", 1)[-1] for qual, _ in scan.calls
              if qual.split(".")[0] == "great_expectations"}
    if not leaves - _GX_CONTEXTS or any("expect_" in line for line in scan.lines):
        return False
    return not any(_GX_CHECKS.search(leaf) and not _GX_READ.match(leaf) for leaf in leaves - _GX_CONTEXTS)


def _tool_reexports(scan: SourceScan, local_tops: set[str]) -> dict[str, str]:
    """A tool's module imported from the project's own code, which re-exports it
    (`from myproj.utils.tracking import mlflow`, a wrapper holding `import mlflow` or a stand-in
    when it is not installed): qualified name -> the tool's module. Not where the project has a
    module or package of that name itself (its own code is read on its own)."""
    out: dict[str, str] = {}
    for full in scan.imports.values():
        head, _, leaf = full.rpartition(".")
        if leaf in _TOOL_ROOTS and leaf not in local_tops and (
                full.startswith(".") or (head and head.split(".", 1)[0] in local_tops)):
            out[full] = leaf
    return out


def _reexported(scan: SourceScan, reexports: dict[str, str]) -> SourceScan:
    """The scan with names reached through a re-export read as the tool's own
    (`myproj.utils.tracking.mlflow.log_metric` -> `mlflow.log_metric`)."""
    def real(qual: str) -> str:
        for full, tool in reexports.items():
            if qual == full or qual.startswith((full + ".", full + "(")):
                return tool + qual[len(full):]
        return qual

    return replace(scan, calls=[(real(q), n) for q, n in scan.calls],
                   decorators=[(real(q), d, f) for q, d, f in scan.decorators],
                   bases=[(real(q), c) for q, c in scan.bases],
                   imports={k: real(v) for k, v in scan.imports.items()},
                   modules=scan.modules | set(reexports.values()),
                   import_lines={**scan.import_lines, **{tool: min(
                       (ln for m, ln in scan.import_lines.items() if full.startswith(m + ".")), default=1)
                       for full, tool in reexports.items()}},
                   memo={})


def _matches(scan: SourceScan, paths_ok: Callable[[Detector], bool],
             reexports: dict[str, str] | None = None) -> list[Hit]:
    """Detector hits of one parsed file. They depend on its content, whether its file name
    reads like a batch-scoring script, the data stage its path names, which path-gated detectors
    the repository enables and which of its imports re-export a tool from the project's own code,
    so a parse shared by identical blobs also shares its hits, moved to this file's path."""
    stem = posixpath.splitext(posixpath.basename(scan.path))[0]
    key = ("hits", bool(_BATCH_WORDS & set(words_of(stem))), data_stage(scan.path),
           tuple(paths_ok(d) for d in _PATH_GATED), tuple(sorted((reexports or {}).items())))
    hits = scan.memo.get(key)
    if hits is None:
        target = _reexported(scan, reexports) if reexports else scan
        hits = match_scan(_INDEX, target, paths_ok) + _structural(target)
        for hit in hits:  # rendered only when a template option is chosen
            if hit.line in scan.conditional:
                hit.attrs["opt_in"] = True
        scan.memo[key] = hits
    path = scan.path
    return [Hit(h.signal, h.tool, path, h.line, h.excerpt, dict(h.attrs), h.notebook) for h in hits]


# -- census ----------------------------------------------------------------------------------
def _census(scan: SourceScan, facts: RepoFacts) -> None:
    if "census" not in scan.memo:  # content-only, so shared by identical blobs
        names: set[str] = set()
        trains = False
        ml_lines: set[int] = set()
        for mod, line in scan.import_lines.items():
            name = framework_of(mod)
            if name:
                names.add(name)
                ml_lines.add(line)
        for qual, call in scan.calls:
            leaf = qual.rsplit(".", 1)[-1].lstrip(UNRESOLVED)
            if leaf in {"fit", "fit_generator"} or (leaf == "train" and (
                    "trainer" in words_of(qual) or qual in {"xgboost.train", "lightgbm.train", "catboost.train"})):
                trains = True
                ml_lines.add(call.lineno)
        cells = 0
        if scan.notebook is not None:
            found = {scan.notebook.cell_of(line) for line in ml_lines}
            cells = len({c[0] for c in found if c})
        scan.memo["census"] = (names, trains, cells)
    names, trains, cells = scan.memo["census"]
    for name in names:
        facts.frameworks[name].add(scan.path)
    if trains and not is_test_file(scan.path):
        facts.training_entry_points.add(scan.path)
    facts.notebook_ml_cells += cells


def _fallback_frameworks(text: str) -> Iterator[str]:
    """Frameworks named on the import lines of a text read without parsing it."""
    for m in _IMPORT_LINE.finditer(text):
        for mod in (m.group(1),) if m.group(1) else m.group(2).split(","):
            words = mod.split()
            name = framework_of(words[0]) if words else None
            if name:
                yield name


def _census_fallback(path: str, text: str, facts: RepoFacts) -> None:
    """Imports of a file that does not parse as Python 3 (py2 code) still count for the census."""
    for name in _fallback_frameworks(text):
        facts.frameworks[name].add(path)


def _declared_in_magics(nb: NotebookCode, path: str, facts: RepoFacts) -> None:
    for magic in nb.magics:
        parts = magic.lstrip("%!").split()
        if len(parts) >= 2 and parts[0] in {"pip", "pip3", "conda", "mamba"} and parts[1] == "install":
            for spec in parts[2:]:
                if not spec.startswith("-") and package_framework(spec):
                    facts.frameworks.setdefault("declared:" + str(package_framework(spec)), set()).add(path)


# -- structural detections: one function each, over a scan ------------------------------------
_FRAME_ATTRS = {"columns", "dtypes", "isnull", "isna", "notnull", "notna", "duplicated", "is_unique",
                "empty", "nunique", "between", "isin", "dtype"}
_VALIDATOR_WORDS = "validate|check|verify|assert|require|ensure|expect"
_VALIDATOR_NAME = re.compile(rf"^_?({_VALIDATOR_WORDS})(_|$)")
#: ... but a check for drift compares windows of data over time: monitoring, not validation
_MONITORING_NAME = re.compile(r"(?i)drift|skew")


def _checks_frame(expr: ast.AST) -> bool:
    for node in walk(expr):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return True
        if isinstance(node, ast.Attribute) and node.attr in _FRAME_ATTRS:
            return True
    return False


#: a module holding dataframes: pandas, Spark, polars, or Hugging Face `datasets`
_FRAME_MODULES = ("pandas", "pyspark", "polars", "datasets")
#: calls whose value is a yes/no answer about what they are given
_VERDICT_CALLS = frozenset({"all", "any", "isinstance", "issubset", "issuperset", "equals", "empty"})


def _is_verdict(expr: ast.AST) -> bool:
    """A yes/no expression: a comparison, `and`/`or`, `not`, or an all/any-like call."""
    if isinstance(expr, ast.Compare | ast.BoolOp) or (isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not)):
        return True
    if isinstance(expr, ast.Call):
        func = expr.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return name in _VERDICT_CALLS
    return False


def _frame_verdicts(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[bool, bool]:
    """(raises, answers): whether a validator fails the run on what it finds in a dataframe (an
    `assert`, or a `raise` under an `if`), or only answers (`return False` under such an `if`, a
    yes/no about the frame, or the list of problems it filled under such an `if`). What it finds
    may go through local names first: a list of missing columns filled under `if c not in
    df.columns:`, `missing = [c for c in cols if c not in df.columns]`, `status = len(df.columns)
    == n`. A frame filtered and returned (`df = df[df.x > 0]; return df`) is not an answer."""
    tainted: set[str] = set()
    verdicts: set[str] = set()
    findings: set[str] = set()  # filled under an `if` that examines the frame: `issues.append(...)`

    def examines(expr: ast.AST | None) -> bool:
        if expr is None:
            return False
        return _checks_frame(expr) or any(isinstance(n, ast.Name) and n.id in tainted for n in walk(expr))

    def targets(stmt: ast.AST) -> list[str]:
        if isinstance(stmt, ast.Assign):
            nodes = stmt.targets
        elif isinstance(stmt, ast.AugAssign | ast.AnnAssign):
            nodes = [stmt.target]
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
                and isinstance(stmt.value.func, ast.Attribute) \
                and stmt.value.func.attr in ("append", "extend", "add", "update", "insert"):
            nodes = [stmt.value.func.value]  # missing.append(c)
        else:
            return []
        out = []
        for node in nodes:
            while isinstance(node, ast.Subscript | ast.Attribute):  # report["x"] = ..., self.errors = ...
                node = node.value
            if isinstance(node, ast.Name):
                out.append(node.id)
        return out

    nodes = list(walk(fn))
    for _ in range(3):  # names filled from names: a few rounds reach a fixed point
        before = len(tainted)
        for node in nodes:
            value = getattr(node, "value", None) if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) else None
            if value is not None and examines(value):
                names = targets(node)
                tainted.update(names)
                if _is_verdict(value):
                    verdicts.update(names)
            if isinstance(node, ast.If | ast.While) and examines(node.test):
                for stmt in node.body:
                    names = targets(stmt)
                    tainted.update(names)
                    findings.update(names)
        if len(tainted) == before:
            break
    raises = answers = False
    for node in nodes:
        if isinstance(node, ast.Assert) and examines(node.test):
            raises = True
        elif isinstance(node, ast.If) and examines(node.test):
            branches = [*node.body, *node.orelse]
            raises = raises or any(isinstance(s, ast.Raise) for s in node.body)
            answers = answers or any(isinstance(s, ast.Return) and isinstance(s.value, ast.Constant)
                                     and s.value.value is False for s in branches)
        elif isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            answers = answers or (_is_verdict(value) and examines(value)) or (
                isinstance(value, ast.Name) and value.id in verdicts | findings)
    return raises, answers


def _custom_validation(scan: SourceScan) -> list[Hit]:
    """A validate_*/check_* function that checks a dataframe's columns, types or values and fails
    the run on what it finds (`assert`, or `raise` under an `if`): `tool: custom`. One that only
    answers (returns False, a yes/no about the frame, or the problems it found, for its caller to
    act on or not) is kept as `verdict_only`: a check, but not one shown to stop anything."""
    if not scan.imports_any(_FRAME_MODULES):
        return []
    hits = []
    for fn in scan.functions:
        if not _VALIDATOR_NAME.match(fn.name) or _MONITORING_NAME.search(fn.name):
            continue
        raises, answers = _frame_verdicts(fn)
        if raises or answers:
            hits.append(Hit(DV, "custom", scan.path, fn.lineno, scan.source_line(fn.lineno),
                            {} if raises else {"verdict_only": True}, scan.notebook is not None))
    return hits


_MONITORING_KEYS = frozenset({"modelMonitoringConfig", "model_monitoring_config",
                              "modelDeploymentMonitoringObjectiveConfigs",
                              "model_deployment_monitoring_objective_configs"})
_OBJECTIVE_KEYS = frozenset({"objectiveConfigs", "objective_configs", "trainingPredictionSkewDetectionConfig",
                             "training_prediction_skew_detection_config", "predictionDriftDetectionConfig",
                             "prediction_drift_detection_config", "objectiveConfig", "objective_config"})


def _has_objective(expr: ast.AST) -> bool:
    return any(isinstance(n, ast.Dict) and any(isinstance(k, ast.Constant) and k.value in _OBJECTIVE_KEYS
                                               for k in n.keys) for n in walk(expr))


def _vertex_monitoring_request(scan: SourceScan) -> list[Hit]:
    """A Vertex AI request built as a dict (`message["modelMonitoringConfig"] = {...}` then
    `create_batch_prediction_job`): skew/drift objectives configured through the API."""
    if not any(m.startswith("google.cloud.aiplatform") for m in scan.modules):
        return []
    for node in walk(scan.tree):
        pairs: list[tuple[ast.AST | None, ast.AST]] = []
        if isinstance(node, ast.Dict):
            pairs = list(zip(node.keys, node.values, strict=True))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript):
            pairs = [(node.targets[0].slice, node.value)]
        for key, value in pairs:
            if isinstance(key, ast.Constant) and key.value in _MONITORING_KEYS and _has_objective(value):
                line = getattr(key, "lineno", node.lineno)
                return [Hit(MM, "vertex-model-monitoring", scan.path, line, scan.source_line(line),
                            {"via": "request", "scheduled": True}, scan.notebook is not None)]
    return []


def _dbt_models(scan: SourceScan) -> list[Hit]:
    return [Hit(DP, "dbt", scan.path, fn.lineno, scan.source_line(fn.lineno), {}, False)
            for fn in scan.functions
            if fn.name == "model" and [a.arg for a in fn.args.args[:1]] == ["dbt"]]


def _lambda_handlers(scan: SourceScan) -> list[Hit]:
    return [Hit("_route", "aws-lambda", scan.path, fn.lineno, scan.source_line(fn.lineno), {}, False)
            for fn in scan.functions
            if fn.name.endswith("handler") and [a.arg for a in fn.args.args[:2]] == ["event", "context"]]


_BATCH_WORDS = {"batch", "predict", "prediction", "predictions", "score", "scoring", "inference", "infer"}
_WRITES = {"to_csv", "to_parquet", "to_json", "to_sql", "to_gbq", "write", "save", "dump", "saveAsTable",
           "put_object", "upload_file", "insert_rows_json"}


def _batch_script(scan: SourceScan) -> list[Hit]:
    """A predict/score script that loads a model, predicts and writes results, without a server."""
    stem = posixpath.splitext(posixpath.basename(scan.path))[0]
    if scan.notebook is not None or not _BATCH_WORDS & set(words_of(stem)):
        return []
    leaves = [(q.rsplit(".", 1)[-1].lstrip(UNRESOLVED), c) for q, c in scan.calls]
    predicts = [c for leaf, c in leaves if leaf in {"predict", "predict_proba"}]
    if predicts and any(leaf in _WRITES for leaf, _ in leaves):
        return [Hit("_batch", "custom", scan.path, predicts[0].lineno, scan.source_line(predicts[0].lineno), {}, False)]
    return []


STRUCTURAL: tuple[Callable[[SourceScan], list[Hit]], ...] = (
    _custom_validation, _dbt_models, _lambda_handlers, _batch_script, _vertex_monitoring_request)
#: what each structural detector needs in a file's text, for the prefilter: any of the keywords,
#: or (a condition) every expression, with one of its words (a test checks every one is listed)
STRUCTURAL_NEEDS: dict[str, tuple[tuple[Keyword, ...], tuple[str, ...], tuple[str, ...]]] = {
    # a validate_*/check_*/require_* function in a module importing a dataframe library
    # (a function so named, and an `assert`, a `raise` or a `return` somewhere)
    "_custom_validation": ((), (r"(?<![A-Za-z0-9_])(?:pandas|pyspark|polars|datasets)(?![A-Za-z0-9_])",
                                rf"(?<![A-Za-z0-9_])def[\s\\]+_?(?:{_VALIDATOR_WORDS})(?:_\w*)?[\s\\]*\(",
                                r"(?<![A-Za-z0-9_])(?:assert|raise|return)(?![A-Za-z0-9_])"),
                           _FRAME_MODULES),
    "_dbt_models": ((Keyword("dbt"),), (), ()),
    "_lambda_handlers": ((Keyword("handler", start=False),), (), ()),
    "_batch_script": ((Keyword("predict"), Keyword("predict_proba")), (), ()),
    "_vertex_monitoring_request": ((Keyword("aiplatform", end=False),), (), ()),
}
#: ... and, for the prefilter's second look, all a detector needs at once where one keyword says
#: little: a `*handler(event, context)` function; a predict call beside a call that writes
STRUCTURAL_WHOLE: dict[str, tuple[Requirement, ...]] = {
    "_lambda_handlers": ((frozenset((Keyword("handler", start=False),)), frozenset((Keyword("event"),)),
                          frozenset((Keyword("context"),))),),
    "_batch_script": ((frozenset((Keyword("predict"), Keyword("predict_proba"))),
                       frozenset(Keyword(w) for w in _WRITES)),),
}


def _structural(scan: SourceScan) -> list[Hit]:
    return [hit for detect in STRUCTURAL for hit in detect(scan)]


# -- assembling evidence ---------------------------------------------------------------------
def _opt(hit: Hit) -> dict[str, Any]:
    """The `opt_in` flag of an internal fact, carried to the signal it becomes."""
    return {"opt_in": True} if hit.attrs.get("opt_in") else {}


def _combine(facts: RepoFacts) -> list[Hit]:
    """Turn internal facts into signals: routes + model loads, schedules on training code."""
    by_path: dict[str, dict[str, list[Hit]]] = defaultdict(lambda: defaultdict(list))
    for hit in facts.hits:
        by_path[hit.path][hit.signal].append(hit)
    loaders = {p for p, sig in by_path.items() if sig.get("_model_load") and not p.endswith(".ipynb")}
    loader_stems = {posixpath.splitext(posixpath.basename(p))[0] for p in loaders} - {"__init__"}
    # modules imported by a scheduled file: monitoring in them runs on that schedule
    scheduled_imports = {part for p, sig in by_path.items() if sig.get("_schedule")
                         for m in facts.local_imports.get(p, ()) for part in m.lstrip(".").split(".")}
    out: list[Hit] = []
    for path, signals in by_path.items():
        routes = signals.get("_route", [])
        if routes:
            loads_here = bool(signals.get("_model_load"))
            loads_imported = any(set(re.split(r"[.]", m.lstrip("."))) & loader_stems
                                 for m in facts.local_imports.get(path, ()))
            if loads_here or (loads_imported and not path.endswith(".ipynb")):
                for r in routes:
                    out.append(Hit(SV, r.tool, r.path, r.line, r.excerpt, _opt(r), r.notebook))
        elif signals.get("_batch") and signals.get("_model_load"):
            out.extend(Hit(BI, h.tool, h.path, h.line, h.excerpt, _opt(h), h.notebook) for h in signals["_batch"])
        schedules = signals.get("_schedule", [])
        for s in schedules:
            if s.attrs.get("training"):
                out.append(Hit("scheduled_retraining", s.tool, s.path, s.line, s.excerpt,
                               {"trigger": s.tool, "schedule": s.attrs.get("schedule"), **_opt(s)}, s.notebook))
        stem = posixpath.splitext(posixpath.basename(path))[0]
        for hit in signals.get(MM, []):
            if (schedules or stem in scheduled_imports) and "scheduled" not in hit.attrs:
                hit.attrs["scheduled"] = True
        out.extend(h for sig, hs in signals.items() if not sig.startswith("_") for h in hs)
    return out


_FLAGS = ("metadata_driven", "scheduled")


def _assemble(view: RepoView, facts: RepoFacts) -> list[EvidenceItem]:
    items: list[EvidenceItem] = []
    groups: dict[tuple[str, str, Any], list[Hit]] = defaultdict(list)
    seen: set[tuple[str, str, str, int]] = set()
    for hit in _combine(facts):
        key = (hit.signal, hit.tool, hit.path, hit.line)
        if key in seen:
            continue
        seen.add(key)
        groups[(hit.signal, hit.tool, hit.attrs.get("action"))].append(hit)
    for (signal, tool, _), hits in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2]))):
        hits.sort(key=lambda h: (h.notebook, "{{" in h.path, h.path, h.line))
        notebook_only = all(h.notebook for h in hits)
        opt_in = all(h.attrs.get("opt_in") for h in hits)
        # a check that fails the run before one that only answers (each keeps its own flag)
        hits.sort(key=lambda h: bool(h.attrs.get("verdict_only")))
        for i, hit in enumerate(hits[:MAX_SAMPLES]):
            attrs: dict[str, Any] = {"tool": tool, **hit.attrs}
            attrs.pop("training", None)
            attrs.pop("opt_in", None)
            if opt_in:
                attrs["opt_in"] = True
            if i == 0:
                attrs["occurrences"] = len(hits)
                attrs["files"] = len({h.path for h in hits})
                for flag in _FLAGS:
                    if any(h.attrs.get(flag) for h in hits):
                        attrs[flag] = True
            if notebook_only:
                attrs["notebook_only"] = True
            if "{{" in hit.path:
                attrs["template"] = True
            line = hit.line
            nb = facts.notebooks.get(hit.path)
            if nb is not None:
                cell = nb.cell_of(hit.line)
                if cell:
                    attrs["cell"] = cell[0] + 1
                line = raw_notebook_line(view.text(hit.path) or "", nb, hit.line) or 0
            items.append(view.evidence(signal, hit.path, line or None, hit.excerpt, **attrs))
    items.extend(_test_items(view, facts))
    items.append(_census_item(view, facts))
    return items


def _test_items(view: RepoView, facts: RepoFacts) -> list[EvidenceItem]:
    items = []
    tested = sorted((p, fns, t) for p, fns, t in facts.tests if fns)
    if tested:
        items.append(_tests_item(view, "automated_tests", tested))
    ml = [(p, fns, t) for p, fns, t in tested if t]
    if ml:
        targets = sorted({x for _, _, t in ml for x in t})
        items.append(_tests_item(view, "ml_tests", ml, targets=targets[:MAX_LISTED]))
    return items


def _tests_item(view: RepoView, signal: str, tested: list[tuple[str, list[tuple[str, int]], set[str]]],
                **extra: Any) -> EvidenceItem:
    path, fns, _ = tested[0]
    name, line = fns[0]
    samples = [f"{p}:{f[0][1]}" for p, f, _ in tested[:MAX_SAMPLES]]
    attrs: dict[str, Any] = {"test_files": len(tested), "test_functions": sum(len(f) for _, f, _ in tested),
                             "samples": samples, **extra}
    if all("{{" in p for p, _, _ in tested):
        attrs["template"] = True
    return view.evidence(signal, path, line, (view.text(path) or "").split("\n")[line - 1].strip(), **attrs)


def _census_item(view: RepoView, facts: RepoFacts) -> EvidenceItem:
    frameworks: dict[str, str] = {}
    for name in sorted(facts.frameworks):
        if not name.startswith("declared:"):
            frameworks[name] = "imported"
    declared = declared_frameworks(view)
    for key, paths in facts.frameworks.items():
        if key.startswith("declared:"):
            declared.setdefault(key.split(":", 1)[1], set()).update(paths)
    for name in sorted(declared):
        frameworks.setdefault(name, "declared_only")
    imported_paths = {p for n, ps in facts.frameworks.items() if not n.startswith("declared:") for p in ps}
    attrs: dict[str, Any] = {
        "frameworks": frameworks,
        "python_files": facts.python_files,
        "notebook_files": facts.notebook_files,
        "training_entry_points": sorted(facts.training_entry_points)[:MAX_LISTED],
        "notebook_ml_cells": facts.notebook_ml_cells,
    }
    if len(facts.training_entry_points) > MAX_LISTED:
        attrs["training_entry_point_count"] = len(facts.training_entry_points)
    if imported_paths and all(p.endswith(".ipynb") for p in imported_paths):
        attrs["notebook_only"] = True
    return view.evidence("ml_frameworks", **attrs)


# compiled where the module is imported: the forkserver preloads it, so every worker process
# inherits the search (and the grep patterns) instead of compiling it again
code_prefilter().grep_pattern()
code_prefilter().perl_pattern()
