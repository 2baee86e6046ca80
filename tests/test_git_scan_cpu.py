"""What keeps a scan's CPU and memory down without changing what it finds: the paused garbage
collector, the AST walk without expression contexts (in C where it was built), the bounded parse
cache."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from mlaudit.collectors.git import code, pyscan
from mlaudit.collectors.git.collector import WORKER_GC_EVERY, paused_gc
from mlaudit.collectors.git.pyscan import SourceScan, walk

ROOT = Path(__file__).resolve().parent.parent


def test_paused_gc_pauses_and_restores_and_threads_share_one_pause() -> None:
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def analyse() -> None:
        with paused_gc():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=analyse)
    worker.start()
    inside.wait(5)
    with paused_gc():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread is still analysing
    release.set()
    worker.join()
    assert gc.isenabled()


def test_paused_gc_leaves_a_collector_the_caller_turned_off_off() -> None:
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_paused_gc_frees_the_cycles_a_repository_left() -> None:
    class Node:
        pass

    with paused_gc():
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        alive = {id(a), id(b)}
        del a, b
    assert not alive & {id(o) for o in gc.get_objects() if isinstance(o, Node)}


def test_walk_yields_every_node_but_expression_contexts_in_the_same_order() -> None:
    for path in [*(ROOT / "collectors" / "git").glob("*.py"), *(ROOT / "tests").glob("test_git_*.py")]:
        tree = ast.parse(path.read_text())
        ours = list(walk(tree))
        assert not any(isinstance(n, ast.expr_context) for n in ours)
        assert Counter(map(type, ours)) == Counter(type(n) for n in ast.walk(tree)
                                                   if not isinstance(n, ast.expr_context))
        # ... depth first, a node before what it holds
        position = {id(n): i for i, n in enumerate(ours)}
        for node in ours:
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, ast.expr_context):
                    assert position[id(child)] > position[id(node)]


def test_source_scan_facts_are_those_of_a_full_walk() -> None:
    text = (ROOT / "collectors" / "git" / "collector.py").read_text()
    scan = SourceScan.build("collector.py", text)
    assert scan is not None
    tree = ast.parse(text)
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert sorted(f.name for f in scan.functions) == sorted(f.name for f in defs)
    assert len(scan.classes) == sum(isinstance(n, ast.ClassDef) for n in ast.walk(tree))
    calls = sum(isinstance(n, ast.Call) for n in ast.walk(tree))
    assert 0 < len(scan.calls) <= calls
    assert "mlaudit.collectors.git.blobs.BlobReader" in scan.modules


def _names_by_ast(tree: ast.Module) -> set[str]:
    """Names read or written inside any function, by the standard library's walk."""
    return {n.id for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(fn) if isinstance(n, ast.Name)}


def test_names_in_functions_counted_in_the_build_walk_are_those_found_by_walking_functions() -> None:
    """A test module's names are counted in the walk that collects its facts, the ones outside
    functions taken off: the same names as walking every function, on this project's code and
    tests and on shapes that put a name both inside and outside functions."""
    from mlaudit.collectors.git.testdetect import _names_in_functions, _names_in_functions_walked

    shapes = [
        "import model\nmodel.x = 1\n",  # only outside: not used
        "import model\nmodel.x = 1\ndef test_a():\n    assert model\n",  # both sides
        "import model\n@model.mark\ndef test_a(x=model):\n    pass\n",  # decorator and default
        "import model\nclass TestA:\n    m = model\n    def test_b(self):\n        assert self.m\n",
        "import model\nf = lambda: model\n",  # a lambda is not a function here
        "def outer():\n    def inner():\n        return data\n    return inner\n",
        "async def test_a():\n    async with client as c:\n        assert c\n",
    ]
    sources = [*shapes, *(p.read_text() for p in [*(ROOT / "collectors" / "git").glob("*.py"),
                                                  *(ROOT / "tests").glob("test_git_*.py")])]
    for text in sources:
        counted = SourceScan.build("tests/test_x.py", text, count_names=True)
        walked = SourceScan.build("tests/test_x.py", text)
        assert counted is not None and walked is not None
        assert counted.name_counts is not None and walked.name_counts is None
        expected = _names_by_ast(ast.parse(text))
        assert _names_in_functions(counted) == _names_in_functions_walked(walked) == expected, text[:60]
    assert _names_in_functions(SourceScan.build("t.py", shapes[0], count_names=True)) == set()
    assert "model" in _names_in_functions(SourceScan.build("t.py", shapes[1], count_names=True))


def test_parse_cache_is_bounded_by_the_source_it_holds() -> None:
    cache = code._ScanCache()
    assert cache.max_source_bytes == 256 * 1024
    for i in range(100):
        cache.put(f"{i:040x}", object(), 30 * 1024)
    assert cache._bytes <= 256 * 1024
    assert cache.get(f"{99:040x}") is not None and cache.get(f"{0:040x}") is None
    cache.put("big", object(), 64 * 1024)  # over the per-file limit: never kept
    assert cache.get("big") is None


def test_a_worker_process_collects_cycles_every_few_repositories(tmp_path: Path) -> None:
    """In a worker (collector off after `_worker_started`) a cycle a repository leaves is freed
    by the collection `_scan_in_worker` makes every `WORKER_GC_EVERY` repositories, not before."""
    script = f"""
import gc, weakref
from datetime import UTC, datetime
from pathlib import Path
from mlaudit.collectors.git import collector as c
from mlaudit.collectors.git.repos import RepoRef
from mlaudit.collectors.git.settings import GitSettings
c._worker_started()
assert not gc.isenabled()
class Node: pass
a, b = Node(), Node(); a.other, b.other = b, a
alive = weakref.ref(a); del a, b
ref = RepoRef(Path({str(tmp_path)!r}), "not-a-repo")
seen = []
for i in range(c.WORKER_GC_EVERY):
    evidence, info, error = c._scan_in_worker((GitSettings(), ref, datetime.now(UTC), 180, None, None))
    assert error and "not a git repository" in error, error
    seen.append(alive() is not None)
print(seen.count(True), seen[-1], gc.isenabled())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(WORKER_GC_EVERY - 1), "False", "False"]


def test_repositories_go_to_workers_costliest_first(tmp_path: Path, monkeypatch) -> None:
    """Workers get the costliest repositories first (a costly one handed out last keeps one
    worker busy alone). The cost is the Python a checkout's index lists, notebooks weighted; where
    a repository has no index (a bare mirror), the bytes on disk, packed or loose, decide for
    all. Results still come back in the estate's order."""
    import os

    from gitutil import git, make_repo

    from mlaudit.collectors.base import CollectContext
    from mlaudit.collectors.git import collector as gc_mod
    from mlaudit.collectors.git import workers as workers_mod
    from mlaudit.collectors.git.collector import GitCollector, estimated_cost
    from mlaudit.collectors.git.repos import RepoRef
    from mlaudit.config import GitSettings, GitTarget

    org = tmp_path / "org"
    small = make_repo(org / "a-small", {"README.md": "# a\n"})
    loose = make_repo(org / "b-loose", {f"m{i}.py": os.urandom(2000).hex() for i in range(30)})
    packed = make_repo(org / "c-packed", {f"m{i}.py": os.urandom(3000).hex() for i in range(30)})
    git(packed, "gc", "-q")
    # a large pack of data and a notebook, and many small modules in a small pack
    assets = make_repo(org / "e-assets", {"img/photo.bin": os.urandom(400_000).hex(), "nb/eda.ipynb": "{}"})
    modules = make_repo(org / "f-modules", {f"dags/d{i}.py": f"x = {i}\n" for i in range(45)})
    sizes = {p.name: estimated_cost(RepoRef(p / ".git", p.name)) for p in (small, loose, packed)}
    assert sizes["c-packed"] > sizes["b-loose"] > sizes["a-small"] > 0, sizes
    assert estimated_cost(RepoRef(tmp_path / "nowhere" / ".git", "x")) == 0
    assert workers_mod.index_code_files(modules / ".git") == 45
    assert workers_mod.index_code_files(assets / ".git") == workers_mod.NOTEBOOK_WEIGHT
    assert workers_mod.index_code_files(small / ".git") == 0
    assert workers_mod.index_code_files(tmp_path / "nowhere") is None

    refs = [RepoRef(p / ".git", p.name) for p in (small, assets, modules, loose)]
    assert [r.name for r in workers_mod.scan_order(refs, estimated_cost)] == ["f-modules", "b-loose", "e-assets", "a-small"]
    # a bare mirror among them: every repository is weighed by its bytes on disk
    git(tmp_path, "clone", "-q", "--bare", str(modules), str(tmp_path / "mirror.git"))
    bare = RepoRef(tmp_path / "mirror.git", "mirror")
    assert workers_mod.index_code_files(bare.git_dir) is None
    by_bytes = [r.name for r in workers_mod.scan_order([*refs, bare], estimated_cost)]
    assert by_bytes[0] == "e-assets" and by_bytes[-1] == "a-small", by_bytes

    for i in range(gc_mod.PROCESS_POOL_MIN_REPOS):
        make_repo(org / f"d-tiny-{i}", {"x.py": f"x = {i}\n"})
    handed: list[str] = []
    real_order = workers_mod.scan_order

    def recording_order(items, pack_cost):
        out = real_order(items, pack_cost)
        handed.extend(r.name for r in out)
        return out

    monkeypatch.setattr(workers_mod, "scan_order", recording_order)
    result = GitCollector(GitSettings(targets=[GitTarget(path=org)], workers=2)).collect(CollectContext())
    assert handed[:3] == ["f-modules", "c-packed", "b-loose"], handed
    in_threads = GitCollector(GitSettings(targets=[GitTarget(path=org)], workers=1)).collect(CollectContext())
    assert [t["name"] for t in result.targets] == [t["name"] for t in in_threads.targets]


# -- the walk in C ---------------------------------------------------------------------------------
#: every kind of node Python 3.11 makes, in one module (match statements, async, f-strings with
#: format specs, starred and walrus, comprehensions, lambdas with defaults, global/nonlocal,
#: try/except*, annotations, slices, decorators, class keywords)
ALL_SHAPES = '''
from . import a as b, c
import x.y as z
global_name: int = 1
@deco(1, k=2)
class K(Base, metaclass=M):
    """doc"""
    x: list[int] = [i for i in range(3) if i]
    async def f(self, a, /, b=1, *args, c, d=2, **kw) -> None:
        global g
        async with ctx() as (p, q), other():
            async for i in aiter():
                await i
        yield from gen()
        return (yield)
def g(*, key=lambda v=0: v):
    def inner():
        nonlocal key
        key += 1
        del key
    while (n := next(it)) is not None and not n:
        break
    else:
        pass
    try:
        raise ValueError("x") from None
    except* (TypeError, KeyError) as exc:
        assert exc, f"{exc!r:>{width}} {{braces}}"
    finally:
        print(a[1:2:3], b[...], {**d, 'k': 1}, {1, *s}, -x ** 2 if x else ~y, x < y <= z)
    match command.split():
        case [Point(x=0, y=0) | {"k": 1, **rest}] if rest:
            pass
        case [*others, "go", str() as direction] | None | True:
            pass
        case _:
            pass
    return {k: v for k, v in d.items()}, {x for x in s}, (x for x in s), b"bytes"
'''


def _sources() -> list[str]:
    paths = [*(ROOT / "collectors").rglob("*.py"), *(ROOT / "auditor").rglob("*.py"),
             *(ROOT / "tests").glob("test_git_*.py")]
    return [ALL_SHAPES, *(p.read_text() for p in paths)]


def test_the_walk_in_c_is_built_and_used() -> None:
    """`make install` builds collectors/git/_astwalk.c; an install that could not compile it
    still scans (in Python), but this one must have it."""
    assert pyscan.WALK_IN_C
    assert pyscan._c_walk is not None


def test_the_walk_in_c_visits_the_same_nodes_in_the_same_order_as_the_walk_in_python(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert pyscan._c_walk is not None
    kinds = pyscan._COLLECTED
    skip = frozenset((ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
    seen: set[type] = set()
    for text in _sources():
        tree = ast.parse(text)
        by_c = list(walk(tree))
        by_py = list(pyscan._walk_py([tree], None))
        assert len(by_c) == len(by_py) and all(a is b for a, b in zip(by_c, by_py, strict=True))
        seen.update(map(type, by_c))
        # outside functions: the same nodes, and the stack is consumed either way
        stack = list(tree.body)
        outside = list(pyscan.walk_outside(stack, skip))
        assert stack == []
        expected = list(pyscan._walk_py(list(tree.body), skip))
        assert len(outside) == len(expected) and all(a is b for a, b in zip(outside, expected, strict=True))
        assert not any(isinstance(n, tuple(skip)) for n in outside)
        # the nodes a scan collects, and the names it counts
        counts_c: dict[str, int] = {}
        selected = pyscan.walk_select(tree, kinds, counts_c)
        monkeypatch.setattr(pyscan, "_c_walk", None)
        counts_py: dict[str, int] = {}
        by_python = pyscan.walk_select(tree, kinds, counts_py)
        monkeypatch.undo()
        assert len(selected) == len(by_python) and all(a is b for a, b in zip(selected, by_python, strict=True))
        assert counts_c == counts_py == Counter(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
        assert selected == [n for n in by_py if type(n) in kinds]
    # the shapes reached what they were written for
    assert {ast.MatchClass, ast.MatchMapping, ast.MatchStar, ast.MatchAs, ast.MatchOr, ast.TryStar,
            ast.NamedExpr, ast.FormattedValue, ast.AsyncWith, ast.Nonlocal, ast.Starred} <= seen


def test_the_walk_in_c_refuses_wrong_arguments_and_walks_trees_built_by_hand() -> None:
    c_walk = pyscan._c_walk
    assert c_walk is not None
    tree = ast.parse("f(x)")
    with pytest.raises(TypeError):
        c_walk([tree], ast.AST, {}, pyscan._child_fields, ["not a dict"], None, ast.Name, None)
    with pytest.raises(TypeError):
        c_walk([tree], ast.AST, {}, pyscan._child_fields, None, ["not a set"], ast.Name, None)
    with pytest.raises(TypeError):
        c_walk([tree], ast.AST, {ast.Module: ["body"]}, pyscan._child_fields, None, None, ast.Name, None)
    with pytest.raises(ZeroDivisionError):  # the fields callback's error comes through
        c_walk([tree], ast.AST, {}, lambda cls: 1 / 0, None, None, ast.Name, None)
    # a tree made by hand, not by the parser: fields left out are None, as to getattr
    node = ast.Module(body=[ast.Expr(value=ast.Name(id=f"n{i}")) for i in range(50)] + [ast.Return()])
    counts: dict[str, int] = {}
    out = c_walk([node], ast.AST, {}, pyscan._child_fields, None, None, ast.Name, counts)
    assert len(out) == 102 and counts == {f"n{i}": 1 for i in range(50)}
    assert out == list(pyscan._walk_py([node], None))


def test_the_walk_in_c_changes_no_evidence_on_the_test_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole detector suite over the test corpus, with the walk in C and in Python."""
    from test_git_prefilter import _corpus, _facts

    from mlaudit.collectors.git.view import RepoView

    assert pyscan._c_walk is not None
    c_walk = pyscan._c_walk
    for name, files in _corpus():
        found = {}
        for mode in ("c", "python"):
            monkeypatch.setattr(pyscan, "_c_walk", c_walk if mode == "c" else None)
            monkeypatch.setattr(code, "_SCANS", code._ScanCache())
            found[mode] = _facts(code.analyze_code(RepoView.from_files(name, files)))
        assert found["c"] == found["python"], name


# -- notebooks: the cells parsed together where that is the same as one by one ---------------------
def _notebook(*cells: str) -> str:
    import json

    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": c}
        for c in cells]})


NOTEBOOK_CELLS = {
    "plain": ("import pandas as pd\ndf = pd.read_csv('x')", "%matplotlib inline\ndf.head()", "",
              "@app.route('/')\ndef f():\n    return 1"),
    "decorator_above_its_def": ("import mlflow\n@mlflow.trace", "def f():\n    return 1", "f()"),
    "open_bracket": ("x = f(1,", "      2)", "y = 3"),
    "open_block": ("if x:\n    y = 1", "else:\n    y = 2", "z = 1"),
    "indented_cell": ("def f():\n    a = 1", "    return a", "g()"),
    "string_across": ('s = """a', 'b"""', "t = 1"),
    "continuation": ("x = 1 + \\", "    2", "y = x"),
    "continuation_into_a_comment": ("y = 1 \\", "# only a comment", "z = 2"),
    "continuation_into_a_broken_cell": ("y = 1 \\", "    return 2", "m.predict(x)"),
    "broken_cell": ("import torch", "def (:", "torch.save(m, 'p')"),
    "python2_prints": ("import sklearn", "print 'a'", "m.fit(x, y)", "print x, y", "m.predict(x)"),
    "broken_then_crossing": ("print 'a'", "x = f(1,", "  2)", "import torch"),
    "crossing_then_broken": ("@dec", "def f(): pass", "exec 'x'", "import torch"),
    "error_shown_in_a_later_cell": ("x = [1,", "import torch", "y = 2"),
    "unclosed_string_cell": ('s = """never closed', "import torch", "t = 1"),
    "many_broken": (*(f"print {i}" for i in range(7)), "import torch"),
    "top_level_await": ("await main()", "import asyncio"),
    "only_comments": ("# nothing", "  # still nothing"),
    "only_broken": ("print 'a'", "exec 'b'"),
}


def test_a_notebook_parsed_in_one_pass_gives_the_tree_of_its_cells_parsed_one_by_one() -> None:
    together: dict[str, bool] = {}
    for name, cells in NOTEBOOK_CELLS.items():
        nb = pyscan.notebook_code(_notebook(*cells))
        assert nb is not None
        together[name] = pyscan._parse_cells_together(nb) is not None
        tree, one_by_one = pyscan.parse_notebook(nb), pyscan._parse_cells_one_by_one(nb)
        dump = ast.dump(tree, include_attributes=True) if tree else None
        assert dump == (ast.dump(one_by_one, include_attributes=True) if one_by_one else None), name
    assert together["plain"] and together["top_level_await"] and together["only_comments"]
    # a statement that crosses from one cell into the next is parsed cell by cell
    assert not any(together[n] for n in ("decorator_above_its_def", "open_bracket", "open_block",
                                         "indented_cell", "string_across", "continuation", "broken_cell"))
    assert pyscan.parse_notebook(pyscan.notebook_code(_notebook("# nothing"))) is None
    assert pyscan.parse_notebook(pyscan.notebook_code(_notebook("print 'a'", "exec 'b'"))) is None


def test_random_notebooks_parse_as_their_cells_one_by_one() -> None:
    """Cells drawn at random from valid, broken and cell-crossing snippets: the notebook's
    tree is exactly that of its cells parsed one by one (a cell ending in a line continuation
    followed by a comment-only cell parsed together, and kept a statement of a cell that does
    not parse alone, before this test)."""
    import random

    pool = [cell for cells in NOTEBOOK_CELLS.values() for cell in cells] + [
        "x = (", ")", "    indented = 1", "else:", "def g():", "    return 2", "'''", "y = 1 \\",
        "class C:\n    pass", "lambda: (", "import numpy as np\nnp.zeros(3)", "f'{x!r}'", "a = [i for i in b]"]
    rng = random.Random(7)
    for _ in range(1500):
        nb = pyscan.notebook_code(_notebook(*rng.choices(pool, k=rng.randint(1, 9))))
        assert nb is not None
        tree, one_by_one = pyscan.parse_notebook(nb), pyscan._parse_cells_one_by_one(nb)
        assert (ast.dump(tree, include_attributes=True) if tree else None) == (
            ast.dump(one_by_one, include_attributes=True) if one_by_one else None), nb.code


def test_a_parsed_notebooks_json_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook's JSON (often megabytes of outputs) is decoded once: the cells the prefilter
    read are the ones parsed."""
    from mlaudit.collectors.git.view import RepoView

    decoded: list[int] = []
    real = pyscan.notebook_code

    def counting(text: str) -> pyscan.NotebookCode | None:
        decoded.append(1)
        return real(text)

    monkeypatch.setattr(pyscan, "notebook_code", counting)
    monkeypatch.setattr(code, "notebook_code", counting)
    monkeypatch.setattr(code, "_SCANS", code._ScanCache())
    text = _notebook("import mlflow\nmlflow.log_metric('auc', 0.9)", "from sklearn.linear_model import Ridge\n"
                     "Ridge().fit(x, y)")
    view = RepoView.from_files("nb", {"train.ipynb": text})
    items = code.analyze_code(view)
    assert view.parsed == 1 and len(decoded) == 1
    assert any(i.signal == "experiment_tracking" and i.attributes.get("notebook_only") for i in items)


def test_the_detector_index_compiles_a_pattern_only_when_a_call_it_could_match_is_met() -> None:
    """Patterns are compiled on first use (the worker server no longer compiles the whole table
    at every run), and the lazy index loses no detector: every call, decorator and base pattern
    of the table is found among the candidates of a name it matches."""
    import fnmatch

    from mlaudit.collectors.git.codetable import DETECTORS

    index = pyscan.DetectorIndex(DETECTORS)
    assert index._compiled == {} and index._memo == {}
    checked = 0
    for det in DETECTORS:
        for kind, patterns in (("call", det.calls), ("decorator", det.decorators), ("base", det.bases)):
            for pat in patterns:
                if "[" in pat:
                    continue
                # a leading `*` stands for the module path before a class or function name
                name = ("pkg." + pat[1:] if pat.startswith("*") else pat).replace("*", "x").replace("?", "x")
                assert fnmatch.fnmatchcase(name, pat)
                found = index.candidates(kind, name)
                assert any(d is det and rx.match(name) for rx, d in found), (kind, pat, det.tool)
                assert index.candidates(kind, name) is found  # remembered
                # the rows matching the name: the candidates that match, in table order, remembered
                matching = index.matching(kind, name)
                assert det in matching and matching == tuple(d for rx, d in found if rx.match(name))
                assert index.matching(kind, name) is matching
                checked += 1
    assert checked > 100
    fresh = pyscan.DetectorIndex(DETECTORS)
    fresh.candidates("call", "mlflow.log_metric")
    total = sum(len(d.calls) + len(d.decorators) + len(d.bases) for d in DETECTORS)
    assert 0 < len(fresh._compiled) < total / 4  # only that name's candidates


def test_the_detector_index_forgets_its_lookups_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlaudit.collectors.git.codetable import DETECTORS

    monkeypatch.setattr(pyscan.DetectorIndex, "MEMO_MAX", 50)
    index = pyscan.DetectorIndex(DETECTORS)
    for i in range(500):
        index.candidates("call", f"obj{i}.method{i}")
        index.matching("call", f"obj{i}.other{i}")
        assert len(index._memo) <= 50 and len(index._matching) <= 50
    assert [d.tool for _, d in index.candidates("call", "mlflow.log_metric")]  # still answers
    assert [d.tool for d in index.matching("call", "mlflow.log_metric")]


def test_a_repository_reports_where_its_scan_time_went(tmp_path: Path) -> None:
    """`-v` splits a repository's analysis into git reads, parsing and detectors: each measured on
    its own (they are summed over repositories), parse only where something was parsed."""
    from datetime import UTC, datetime

    from gitutil import make_repo

    from mlaudit.collectors.base import CollectContext
    from mlaudit.collectors.git.collector import GitCollector
    from mlaudit.collectors.git.repos import RepoRef
    from mlaudit.collectors.git.settings import GitSettings

    body = "\n".join(f"def f{i}(x):\n    return mlflow.log_metric('m{i}', x)\n" for i in range(400))
    code_repo = make_repo(tmp_path / "code", {"train.py": "import mlflow\n" + body,
                                              "tests/test_train.py": "def test_a():\n    assert 1\n",
                                              "ci.yml": "on: push\n"})
    docs_repo = make_repo(tmp_path / "docs", {"README.md": "# docs only\n", "notes.txt": "mlflow\n"})
    since = datetime(2000, 1, 1, tzinfo=UTC)
    timings = {}
    for repo in (code_repo, docs_repo):
        evidence, info, error = GitCollector(GitSettings())._scan_one(
            RepoRef(repo / ".git", repo.name), since, CollectContext())
        assert error is None and evidence
        timings[repo.name] = info["timings"]
    assert set(timings["code"]) == {"tree", "read", "parse", "detect", "history"}
    assert timings["code"]["read"] > 0 and timings["code"]["parse"] > 0 and timings["code"]["detect"] > 0
    assert timings["docs"]["parse"] == 0  # no Python: nothing parsed, nothing counted


def test_imports_any_answers_as_a_prefix_test_of_every_imported_module() -> None:
    """`imports_any` looks prefixes up in a set made once per scan; the answer is that of testing
    every imported module against every prefix (equal, or below it at a dot)."""
    import random

    rnd = random.Random(7)
    parts = ["a", "b", "ab", "mlflow", "tracking", "x"]
    for _ in range(300):
        mods = {("." * rnd.randint(0, 2)) + ".".join(rnd.choice(parts) for _ in range(rnd.randint(1, 3)))
                for _ in range(rnd.randint(0, 5))}
        text = "\n".join(f"from {m} import name{i}" if m.startswith(".") else f"import {m}"
                         for i, m in enumerate(sorted(mods)))
        scan = SourceScan.build("m.py", text)
        assert scan is not None
        for _ in range(10):
            p = rnd.choice(["", "a.", *(".".join(rnd.choice(parts) for _ in range(rnd.randint(1, 3)))
                                         for _ in range(3))])
            expected = any(m == p or m.startswith(p + ".") for m in scan.modules)
            assert scan.imports_any((p,)) is expected, (sorted(scan.modules), p)


def test_a_path_rule_answers_as_its_regular_expression_and_forgets_past_its_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Vendored folders and environments to skip are searched once per path and remembered: the
    same answers as the expression's, and a bounded memory."""
    import re

    from mlaudit.collectors.git.codetable import SKIP_DIRS
    from mlaudit.collectors.git.configs import VENDORED
    from mlaudit.collectors.git.pathrules import PathRule

    paths = ["src/model.py", "node_modules/x/index.js", "a/.venv/lib/site.py", "venvy/x.py", "x/venv/y",
             ".git/config", "lib/site-packages/p.py", "notebooks/.ipynb_checkpoints/a.ipynb", "docs/venv.md"]
    for rule in (VENDORED, SKIP_DIRS):
        plain = re.compile(rule.pattern)
        for _ in range(2):  # asked, then remembered
            assert [bool(rule.search(p)) for p in paths] == [bool(plain.search(p)) for p in paths]
    rule = PathRule(r"(^|/)vendor/")
    monkeypatch.setattr(PathRule, "MAX_KEPT", 3)
    for p in ["a", "vendor/b", "c", "d", "e/vendor/f"]:
        assert bool(rule.search(p)) == ("vendor/" in p)
        assert len(rule._seen) <= 3


@pytest.mark.parametrize("text", [
    "CfnEndpoint(self, 'e')", "x = sagemaker.CfnEndpoint (self)", "CfnFeatureGroup(self, 'fg')",
    "sagemaker.CfnMonitoringSchedule(self, 'm')", "sfn.StateMachine(self, 'sm')",
    "_stepfunctions.StateMachine(self)", "new StateMachine(this, 'sm')", "_sagemaker.CfnPipeline(self)",
    "pipelines.CodePipeline(self, 'p')", "_codepipeline.Pipeline(self, 'ModelBuild')",
    "new codepipeline.Pipeline(this, 'p')",
])
def test_each_cdk_expression_is_searched_wherever_it_can_match(text: str) -> None:
    """A CDK app's code is searched for an expression only where it holds the expression's word:
    every match holds that word, so the gate never hides one."""
    from mlaudit.collectors.git import infra

    matched = [(rx, word) for rx, _, _, word in infra._CDK_SIGNALS if rx.search(text)]
    assert matched, text
    assert all(word in text for _, word in matched)
    for rx, _, _, word in infra._CDK_SIGNALS:
        assert rx.search(text.replace(word, word[:-1] + "_")) is None or word not in text
