"""Test detection: which files are tests (by name, or run by path from CI and Makefiles), which
test functions assert, what they exercise (ML frameworks or the project's ML modules), and data
validation written as tests."""

from __future__ import annotations

import ast
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable

from mlaudit.collectors.git.codetable import DV, SKIP_DIRS, framework_of
from mlaudit.collectors.git.pyscan import Hit, SourceScan, walk, walk_outside, words_of
from mlaudit.collectors.git.view import RepoView

_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test|tests)\.py$")
# helpers, fixtures and scenario builders beside the tests: they wire tools up to test them, which
# is not the project using them
_TEST_SUPPORT = re.compile(r"(^|/)(tests?|testing)/")


#: test doubles: a module that imports one builds a sandbox (moto's in-process AWS, stubbed
#: clients, mocked HTTP) and its calls to ML systems seed that sandbox — fixture code wherever it
#: lives, not the team using the tools
TEST_DOUBLES = ("moto", "botocore.stub", "unittest.mock", "mock", "responses", "requests_mock",
                "pytest_mock", "testcontainers", "localstack", "vcr", "mongomock", "fakeredis")


#: benchmarks beside the code: like tests, they exercise the project (building the stores and
#: projects they time), they are not the team's pipeline
_BENCH = re.compile(r"(^|/)(bench|benchmarks?)/")


def is_harness(scan: SourceScan) -> bool:
    """Code that exercises or stages the project rather than being its practice: helpers beside
    the tests, benchmarks, and any module importing a test double."""
    return bool(_TEST_SUPPORT.search(scan.path) or _BENCH.search(scan.path)) or scan.imports_any(TEST_DOUBLES)


def is_test_file(path: str) -> bool:
    return bool(_TEST_FILE.search(path)) or path.endswith("/conftest.py") or path == "conftest.py"


#: `is_test_file` as git pathspec globs (`**/` is any folders or none, `*` stays within a name):
#: what a byte search over the modules leaves out, since a test module is read whatever it holds
TEST_FILE_GLOBS = ("**/test_*.py", "**/*_test.py", "**/tests.py", "**/conftest.py")


# CI definitions come under many names (Cloud Build and Azure configs in any folder), so any
# YAML may be one; the other runners are named files
_RUNNER_FILES = re.compile(
    r"(\.ya?ml|(^|/)(Jenkinsfile[^/]*|Makefile|makefile|GNUmakefile|justfile|tox\.ini|noxfile\.py))$"
)
#: runner files larger than this are not read for test paths
_RUNNER_MAX = 256 * 1024
_RUNS_TESTS = re.compile(r"\b(py\.?test|unittest|nose2?|nosetests)\b")
_PY_PATH = re.compile(r"(?<![\w/.-])((?:\.?/)?[\w.-]+(?:/[\w.-]+)*\.py)(?:::[\w\[\]-]+)?(?![\w/])")


def runner_invoked_tests(view: RepoView) -> set[str]:
    """Test modules a CI definition or Makefile runs by path (`pytest src/tests/model_tests.py`),
    whatever they are named: the runner collects them although their names do not follow the
    `test_*.py` convention. A path counts when its line (or, for Cloud Build style arg lists,
    its file) runs a test runner and the path names a test module."""
    by_tail: dict[str, list[str]] | None = None  # made once a runner file names a module
    found: set[str] = set()
    runners = [view.entries[p] for p in view.paths if _RUNNER_FILES.search(p) and not SKIP_DIRS.search(p)]
    # sizes, then the texts, each in one stream (one round trip to git per file cost more than
    # reading them; the configuration detectors read the same files afterwards)
    view.prefetch_sizes(runners)
    runners = [e for e in runners if e.size <= _RUNNER_MAX]
    view.prefetch(e.path for e in runners)
    for entry in runners:
        path = entry.path
        text = view.text(path) or ""
        if not _RUNS_TESTS.search(text):
            continue
        lines = [ln for ln in text.splitlines() if not ln.strip().startswith(("#", "//"))]
        whole = "\n".join(lines)
        for line in lines:
            for m in _PY_PATH.finditer(line):
                token = m.group(1).lstrip("./") if m.group(1).startswith("./") else m.group(1)
                name = posixpath.basename(token)
                if "test" not in name.lower() or not (_RUNS_TESTS.search(line) or _RUNS_TESTS.search(whole)):
                    continue
                if by_tail is None:
                    by_tail = defaultdict(list)
                    for module in view.with_suffix(".py"):
                        by_tail[module.name].append(module.path)
                for candidate in by_tail.get(name, ()):
                    if candidate == token or candidate.endswith("/" + token):
                        found.add(candidate)
    return found


_GX_EXPECTATION = re.compile(r"^expect_(column|table|compound|multicolumn|select_column|column_pair)\w*$")


def _test_validation(scan: SourceScan) -> list[Hit]:
    """Data validation written as tests (`tests/data/test_dataset.py`): a test function that
    runs Great Expectations expectations on a dataset, or validates it with a pandera schema.
    Tests of other code that merely build GX projects or mention expectations do not count."""
    pandera = any(m.split(".")[0] == "pandera" for m in scan.modules)
    if not pandera and not any("expect_" in line for line in scan.lines):
        return []  # no expectation is called anywhere in the file
    hits: list[Hit] = []
    # a conftest's fixtures are where shared dataset checks live (`tests/data/conftest.py`)
    fixtures = posixpath.basename(scan.path) == "conftest.py"
    for fn in (_top_functions(scan.tree) if fixtures else _test_functions(scan.tree)):
        found = sorted(
            (node.lineno, tool) for node in walk(fn)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            for tool in ("great_expectations" if _GX_EXPECTATION.match(node.func.attr) else
                         "pandera" if pandera and node.func.attr == "validate" else None,)
            if tool)
        if found:
            line, tool = found[0]
            hits.append(Hit(DV, tool, scan.path, line, scan.source_line(line), {"in_tests": True}, False))
    return hits


# -- test functions -----------------------------------------------------------------------------------
def _test_functions(tree: ast.Module) -> Iterable[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and (node.name.startswith("Test") or any(
                (getattr(b, "attr", None) or getattr(b, "id", "")).endswith("TestCase") for b in node.bases)):
            yield from _class_tests(node)


def _class_tests(cls: ast.ClassDef) -> Iterable[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The test methods of a test class, and of the `Test*` classes nested in it (pytest collects
    those too: `class TestLayer: class TestInit: def test_...`)."""
    for item in cls.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
            yield item
        elif isinstance(item, ast.ClassDef) and item.name.startswith("Test"):
            yield from _class_tests(item)


def _top_functions(tree: ast.Module) -> Iterable[ast.FunctionDef | ast.AsyncFunctionDef]:
    return (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))


def _asserts(fn: ast.AST) -> bool:
    for node in walk(fn):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            leaf = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
            if leaf.startswith(("assert", "Assert")) or leaf in {"raises", "warns", "fail", "assert_that"}:
                return True
    return False


def _asserting_tests(scan: SourceScan) -> list[tuple[str, int]]:
    return [(fn.name, fn.lineno) for fn in _test_functions(scan.tree) if _asserts(fn)]


ML_TARGET_WORDS = {"model", "models", "train", "training", "trainer", "feature", "features", "data",
                   "dataset", "datasets", "preprocess", "preprocessing", "predict", "predictor",
                   "prediction", "inference", "infer", "transform", "transforms", "transformer",
                   "evaluate", "evaluation", "estimator", "etl", "clean", "cleaning", "encoder",
                   "embedding", "embeddings", "score", "scoring", "forecast", "forecasting", "classifier",
                   "regressor", "network", "net", "loss", "losses", "ml", "learn", "augment",
                   "augmentation", "tokenizer", "dataloader", "ingest", "ingestion",
                   "serve", "serving", "pipeline", "pipelines"}
GLUE_WORDS = {"dag", "dags", "airflow", "operator", "operators", "plugin", "plugins", "infra", "cdk",
              "stack", "stacks", "terraform", "lambda", "conftest", "tests", "test", "exceptions",
              "errors", "config", "settings", "cli", "logging"}


def _local_top_names(view: RepoView) -> set[str]:
    """Names a test can import the project's own modules by. Modules beside the tests (helpers,
    scenario builders under `tests/`) are not the project: a test exercising `tests/awsutil.py`'s
    `seed_pipeline` tests the harness, not an ML pipeline."""
    names: set[str] = set()
    for path in view.entries:
        if path.endswith(".py") and not SKIP_DIRS.search(path) and not _TEST_SUPPORT.search(path):
            parts = path.split("/")
            names.update(parts[:-1])
            names.add(parts[-1][:-3])
    return names - {"tests", "test", "conftest", "__init__", "setup"}


_DEFS = frozenset((ast.FunctionDef, ast.AsyncFunctionDef))


def _names_in_functions(scan: SourceScan) -> set[str]:
    """Every name read or written inside a function (its decorators, defaults and body, nested
    functions included). Where `build` counted the module's names, those outside any function
    are counted (a short walk: a test module's top level is imports and constants) and taken off."""
    if scan.name_counts is None:
        return _names_in_functions_walked(scan)
    outside: dict[str, int] = {}
    name, defs = ast.Name, _DEFS
    stack: list[ast.AST] = list(scan.tree.body)
    for node in walk_outside(stack, defs):
        if node.__class__ is name:
            key = node.id  # type: ignore[attr-defined]
            outside[key] = outside.get(key, 0) + 1
    return {n for n, c in scan.name_counts.items() if c > outside.get(n, 0)}


def _names_in_functions_walked(scan: SourceScan) -> set[str]:
    """`_names_in_functions` by walking every function (a nested function is walked once, with
    the function that holds it; functions are listed outermost first)."""
    used: set[str] = set()
    inner: set[int] = set()
    name, defs = ast.Name, _DEFS
    for fn in scan.functions:
        if id(fn) in inner:
            continue
        for node in walk(fn):
            cls = node.__class__
            if cls is name:
                used.add(node.id)  # type: ignore[attr-defined]
            elif cls in defs and node is not fn:
                inner.add(id(node))
    return used


def _ml_targets(scan: SourceScan, local_tops: set[str]) -> set[str]:
    """What an asserting test file exercises: ML frameworks or the project's ML modules."""
    used = _names_in_functions(scan)
    targets: set[str] = set()
    for local, qual in scan.imports.items():
        if local not in used:
            continue
        fw = framework_of(qual)
        if fw:
            targets.add(fw)
            continue
        # in a project template the package is a placeholder (`{{cookiecutter.pkg}}.features`)
        is_local = qual.startswith(".") or qual.split(".")[0] in local_tops or (
            "{{" in scan.path and bool(set(qual.split(".")[1:-1]) & local_tops))
        parts = qual.lstrip(".").split(".")
        # `proj_ml.ops.hello`: the package names the project, its modules say what is tested;
        # a top package that is itself one word of ML code (`pipeline.candidate_generator.X`,
        # `evaluation.metrics.ndcg_at_k`: a service's own packages, run from its folder) says it too
        words = set(words_of(" ".join(parts[1:] if len(parts) >= 3 else parts)))
        if parts[0] in ML_TARGET_WORDS:
            words.add(parts[0])
        if is_local and words & ML_TARGET_WORDS and not words & GLUE_WORDS:
            targets.add(qual.lstrip("."))
    return targets
