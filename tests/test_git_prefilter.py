"""The code prefilter: generated from the detector tables, it never changes what is found.

- every pattern, import rule, census module and structural detector has a keyword the prefilter
  looks for (the Python stage and the `git grep` stage alike);
- the whole detector suite run with and without the prefilter over the test corpus (every file
  tree the git tests build, and the demo organisation) gives the same evidence, item by item.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.git import code
from mlaudit.collectors.git.blobs import ObjectStore
from mlaudit.collectors.git.collector import GitCollector
from mlaudit.collectors.git.prefilter import Keyword, literal_runs, required_keyword
from mlaudit.collectors.git.repos import RepoRef
from mlaudit.collectors.git.view import RepoView
from mlaudit.config import GitSettings, GitTarget
from tests.gitutil import make_repo

TESTS = Path(__file__).parent
CORPUS_MODULES = sorted(p.stem for p in TESTS.glob("test_git_*.py") if p.stem != "test_git_prefilter")


# -- the keywords cover the tables -------------------------------------------------------------
def _patterns() -> list[tuple[code.Detector, str]]:
    return [(det, pat) for det in code.DETECTORS for pat in (*det.calls, *det.decorators, *det.bases)]


def test_every_detector_pattern_has_a_covered_keyword() -> None:
    pf = code.code_prefilter()
    for det, pat in _patterns():
        runs = literal_runs(pat)
        needs = [required_keyword(m) for m in det.requires_import]
        by_pattern = any(pf.covers(run) for run in runs)
        by_import = bool(needs) and all(k is not None and pf.covers(k) for k in needs)
        by_kwargs = not runs and bool(det.kwargs) and all(pf.covers(Keyword(k)) for k in det.kwargs)
        assert by_pattern or by_import or by_kwargs, (det.signal, det.tool, pat)
    for det in code.DETECTORS:
        for mod in det.imports:
            assert any(pf.covers(run) for run in literal_runs(mod)), (det.tool, mod)
    for mod in code.FRAMEWORK_MODULES:
        assert any(pf.covers(run) for run in literal_runs(mod)), mod
    for leaf in ("fit", "fit_generator", "train"):
        assert pf.covers(Keyword(leaf))


def test_every_structural_detector_states_what_it_needs() -> None:
    assert {f.__name__ for f in code.STRUCTURAL} == set(code.STRUCTURAL_NEEDS)
    for name, (keywords, conditions, words) in code.STRUCTURAL_NEEDS.items():
        assert keywords or (conditions and words), name


def test_a_pattern_without_any_keyword_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code, "DETECTORS", (*code.DETECTORS, code._d("x", "y", "*")))
    with pytest.raises(ValueError, match="has no keyword"):
        code.prefilter_keywords()


def _mention(det: code.Detector, pat: str) -> str:
    """Source text in which every literal of a pattern occurs as the pattern bounds it (inside a
    longer name where it does not), with the imports and keywords the detector is gated on."""
    lines = [f"import {m}" for m in det.requires_import]
    lines += [f"x = ({'' if run.start else 'Zz'}{run.text}{'' if run.end else 'Zz'})" for run in literal_runs(pat)]
    lines += [f"f({k}=1)" for k in det.kwargs]
    lines += [f"f({k}='{values[0]}')" for k, values in det.kwarg_values]
    return "\n".join(lines) + "\n"


def test_both_stages_accept_a_file_naming_any_pattern_and_reject_plain_code(tmp_path: Path) -> None:
    """The Python stage and the `git grep` stage (on a real repository) agree on a file per
    pattern; a module naming nothing is refused by both."""
    files = {f"m{i}.py": _mention(det, pat) for i, (det, pat) in enumerate(_patterns())}
    files["plain.py"] = "import os\n\ndef total(rows):\n    return sum(r['amount'] for r in rows)\n"
    files["near_miss.py"] = "mlflowx = 1\nmy_sklearn_helper = 2\nretrain_count = 0\n"
    pf = code.code_prefilter()
    for path, text in files.items():
        assert pf.wanted(text) == path.startswith("m"), (path, text)
    repo = make_repo(tmp_path / "r", files)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    store = ObjectStore(repo / ".git")
    try:
        matched = store.grep_paths(commit, pf.grep_pattern(), ["*.py"])
        by_perl = store.grep_paths(commit, pf.grep_pattern(), ["*.py"], perl=pf.perl_pattern())
    finally:
        store.close()
    assert matched is not None
    assert {p for p in files if p.startswith("m")} <= matched
    assert "plain.py" not in matched and "near_miss.py" not in matched
    assert by_perl == matched  # the Perl-compatible search finds exactly what the POSIX one does


def test_the_byte_search_leaves_out_exactly_the_tests_and_the_folders_never_read(tmp_path: Path) -> None:
    """`GREP_PATHSPECS` (real `git grep` over a real commit) searches every module that is neither
    a test by `is_test_file` nor under `SKIP_DIRS`: the tests are read whatever they hold, so the
    search spares them, and no other module may be left out (it would never be read)."""
    names = ["train.py", "a/b/train.py", "test_x.py", "t/test_x.py", "deep/er/test_y.py", "x_test.py",
             "q/x_test.py", "tests.py", "p/tests.py", "conftest.py", "p/conftest.py", "conftest_x.py",
             "contest.py", "testing.py", "tests/helpers.py", "tests/sub/util.py", "latest_test_run.py",
             "mytests.py", "test.py", "a/test.py", "_test.py", "test_/m.py", "y_test.py/m.py",
             "Test_upper.py", "a/TESTS.py", "m.pyc", "m.py.txt"]
    kept_out = [d for d in code.SKIP_DIR_NAMES if d != ".git"]  # (git commits no `.git` folder)
    names += [f"{d}/lib/mlflow_glue.py" for d in kept_out] + [f"src/{d}/m.py" for d in kept_out]
    names += ["venvx/m.py", "my.venv/m.py", "node_modules_x/m.py", "site-packages2/m.py"]
    files = {n: "import mlflow\n" for n in names}
    repo = make_repo(tmp_path / "r", files)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    store = ObjectStore(repo / ".git")
    try:
        searched = store.grep_paths(commit, "mlflow", code.GREP_PATHSPECS)
    finally:
        store.close()
    expected = {n for n in names if n.endswith(".py") and not code.is_test_file(n) and not code.SKIP_DIRS.search(n)}
    assert searched == expected
    assert "tests/helpers.py" in searched and "venvx/m.py" in searched  # (not tests, not skipped)
    assert not searched & {"t/test_x.py", "p/conftest.py", ".venv/lib/mlflow_glue.py", "src/node_modules/m.py"}


def test_a_git_without_pcre_gets_the_posix_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git built without PCRE says so on `grep -P`; the search is then made with `-E`, the same
    files found."""
    from mlaudit.collectors.git import blobs

    assert blobs.without_pcre(b"fatal: cannot use Perl-compatible regexes when not compiled with USE_LIBPCRE\n")
    assert not blobs.without_pcre(b"fatal: bad object HEAD\n")
    repo = make_repo(tmp_path / "r", {"a.py": "import mlflow\nmlflow.autolog()\n", "b.py": "x = 1\n"})
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    pf = code.code_prefilter()
    store = ObjectStore(repo / ".git")
    try:
        monkeypatch.setitem(blobs._PERL_GREP, "ok", False)
        assert store.grep_paths(commit, pf.grep_pattern(), ["*.py"], perl=pf.perl_pattern()) == {"a.py"}
        # a Perl-compatible pattern git refuses for another reason: no answer, every file read
        monkeypatch.setitem(blobs._PERL_GREP, "ok", None)
        assert store.grep_paths(commit, pf.grep_pattern(), ["*.py"], perl="(?<=a+)b") is None
        assert blobs._PERL_GREP["ok"] is None
    finally:
        store.close()


@pytest.mark.parametrize(("text", "wanted"), [
    # the search finds a module name; the second look asks for the whole of some pattern
    ("import pandas as pd\ndf = pd.read_csv('x.csv')\nprint(df.head())\n", False),
    ("import pandas as pd\ndf = pd.read_gbq('select 1')\n", True),
    ("import sqlalchemy\nmeta = sqlalchemy.MetaData()\n", False),
    ("from sqlalchemy import create_engine\nengine = create_engine('sqlite://')\n", True),
    ("import feast\nprint(feast.__version__)\n", False),
    ("from feast import Entity\ncustomer = Entity(name='customer')\n", True),
    # a pattern gated on an import: the call without the import is not enough
    ("client.create_model_version(name, source, run_id)\n", False),
    ("import mlflow\nclient.create_model_version(name, source, run_id)\n", True),
    # a pattern gated on a call keyword
    ("from catalyst import dl\nrunner = dl.SupervisedRunner()\nrunner.train(model=m)\n", True),
    ("from catalyst import dl\nrunner = dl.SupervisedRunner()\nrunner.evaluate(model=m)\n", False),
    # the census, structural detectors and templates as before
    ("import torch\n", True),
    ("model.fit(X, y)\n", True),
    ("def handler(event, context):\n    return 1\n", True),
    ("def error_handler(exc):\n    log(exc)\n", False),  # a handler, not a Lambda's
    ("import pandas as pd\ndef validate_orders(df):\n    assert df.notna().all()\n", True),
    ("import pandas as pd\ndef check(df):\n    if df.empty:\n        raise ValueError(df)\n", True),
    ("import pandas as pd\nassert pd\ndef load(path):\n    return pd.read_csv(path)\n", False),
    ("def score(model, x):\n    model.predict(x).to_parquet('out.parquet')\n", True),
    ("def score(model, x):\n    return model.predict(x)\n", False),  # predicts, writes nothing
    ("from {{ cookiecutter.pkg }} import x\n", True),
])
def test_the_second_look_asks_for_a_whole_pattern(text: str, wanted: bool) -> None:
    pf = code.code_prefilter()
    assert pf.wanted(text) is wanted, text
    if not wanted:
        assert pf._rx.search(text), "each refused text is one the keyword search alone would parse"


def test_a_test_modules_prefilter_is_the_code_prefilter_with_the_test_keyword() -> None:
    """`prefilter_wants(text, testing=True)` answers as one prefilter that also holds `test*` as a
    keyword and a requirement would, on every Python text of the corpus and on decoys."""
    from mlaudit.collectors.git.prefilter import Condition, Prefilter

    test_kw = Keyword("test", start=True, end=False)
    conditions = [Condition(n, conj, words) for n, (_, conj, words) in code.STRUCTURAL_NEEDS.items() if conj]
    whole = Prefilter(code.prefilter_keywords() | {test_kw}, conditions,
                      [*code.prefilter_requirements(), (frozenset((test_kw,)),)])
    texts = [t for _, tree in _corpus() for p, t in tree.items() if p.endswith(".py") and isinstance(t, str)]
    texts += ["def test_a():\n    assert 1\n", "x = contest\n", "y = 1  # test\n", "latest = 2\n", "import os\n"]
    assert len(texts) > 300
    for text in texts:
        assert code.prefilter_wants(text, testing=True) == whole.wanted(text), text[:80]
        assert code.prefilter_wants(text) == code.code_prefilter().wanted(text)


def test_whole_structural_requirements_start_from_the_detectors_keywords() -> None:
    """The second look only sees what the keyword search let through: each whole requirement of a
    structural detector holds one of its keywords as a clause of its own."""
    for name, reqs in code.STRUCTURAL_WHOLE.items():
        keywords = set(code.STRUCTURAL_NEEDS[name][0])
        for req in reqs:
            assert any(clause <= keywords for clause in req), name


def test_every_pattern_has_a_requirement_of_its_literals_and_gates() -> None:
    """Each pattern's requirement is its own literals and its detector's gates, nothing else
    (anything more could refuse a file the detector matches)."""
    reqs = set(code.prefilter_requirements())
    for det, pat in _patterns():
        clauses = {frozenset((run,)) for run in literal_runs(pat)}
        if det.requires_import:
            clauses.add(frozenset(required_keyword(m) for m in det.requires_import))
        if det.kwargs:
            clauses.add(frozenset(Keyword(k) for k in det.kwargs))
        clauses |= {frozenset((Keyword(k),)) for k, _ in det.kwarg_values}
        assert any(set(req) == clauses for req in reqs), (det.tool, pat)


# -- evidence with and without the prefilter -----------------------------------------------------
def _file_trees(module_name: str) -> list[dict[str, str]]:
    """Every literal file tree a test module builds: dict displays whose keys are paths, evaluated
    in the module's namespace (those that need a test's locals are left out)."""
    module = importlib.import_module(module_name)
    tree = ast.parse((TESTS / f"{module_name}.py").read_text())
    out: list[dict[str, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict) or not node.keys:
            continue
        if not all(isinstance(k, ast.Constant) and isinstance(k.value, str) and "." in k.value
                   for k in node.keys):
            continue
        try:
            value: Any = eval(compile(ast.Expression(node), module_name, "eval"), vars(module))  # noqa: S307
        except Exception:  # noqa: BLE001 - needs a test's locals
            continue
        files = {k: v for k, v in value.items() if isinstance(v, str | bytes)}
        if files:
            out.append(files)
    return out


def _snippets(module_name: str) -> dict[str, str]:
    """Every multi-line string of a test module that parses as Python, as a module of its own
    (the code tests pass around in variables and parameters)."""
    out = {}
    for node in ast.walk(ast.parse((TESTS / f"{module_name}.py").read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.count("\n") > 1:
            try:
                ast.parse(node.value)
            except (SyntaxError, ValueError):
                continue
            out[f"snippets/s{len(out)}.py"] = node.value
    return out


def _corpus() -> list[tuple[str, dict[str, str]]]:
    from mlaudit import demo_org

    trees = [(f"demo-{n}", t) for n, t in (("research", demo_org.RESEARCH), ("churn", demo_org.CHURN),
                                           ("platform", demo_org.PLATFORM))]
    for name in CORPUS_MODULES:
        trees.extend((f"{name}-{i}", t) for i, t in enumerate(_file_trees(name)))
        trees.append((f"{name}-snippets", _snippets(name)))
    return trees


def _facts(items: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.signal, e.locator, repr(sorted(e.attributes.items())), e.excerpt) for e in items]


def _analyze(view_of: Any, prefilter: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    monkeypatch.setattr(code, "USE_PREFILTER", prefilter)
    monkeypatch.setattr(code, "_SCANS", code._ScanCache())  # nothing carried over between modes
    return _facts(code.analyze_code(view_of()))


def test_corpus_is_substantial() -> None:
    corpus = _corpus()
    assert len(corpus) > 100
    assert sum(1 for _, t in corpus for p in t if p.endswith((".py", ".ipynb"))) > 350


def test_prefilter_changes_no_evidence_on_the_test_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = {True: 0, False: 0}
    for name, files in _corpus():
        views = {flag: RepoView.from_files(name, files) for flag in (False, True)}
        without = _analyze(lambda v=views[False]: v, False, monkeypatch)
        with_ = _analyze(lambda v=views[True]: v, True, monkeypatch)
        assert with_ == without, name
        for flag, view in views.items():
            parsed[flag] += view.parsed
    assert parsed[True] < parsed[False]  # it does decide something


def _scan_org(org: Path, prefilter: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list, dict]:
    monkeypatch.setattr(code, "USE_PREFILTER", prefilter)
    monkeypatch.setattr(code, "_SCANS", code._ScanCache())
    collector = GitCollector(GitSettings(targets=[GitTarget(path=org)], workers=1))
    since = datetime.now(UTC) - timedelta(days=180)
    evidence, infos = [], {}
    for gd in sorted(p / ".git" for p in org.iterdir() if (p / ".git").is_dir()):
        items, info, error = collector._scan_one(RepoRef(gd, gd.parent.name), since,
                                                 CollectContext(lookback_days=180))
        assert error is None
        evidence.extend(_facts(items))
        infos[gd.parent.name] = info
    return evidence, infos


def test_prefilter_with_git_grep_changes_no_evidence_on_the_demo_org(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo organisation plus a repository of every test tree, read from real git."""
    from mlaudit import demo_org

    org = demo_org.build(tmp_path / "org")
    merged: dict[str, str] = {}
    for i, (_, files) in enumerate(_corpus()):
        merged.update({f"t{i}/{p}": v for p, v in files.items() if isinstance(v, str)})
    make_repo(org / "corpus", merged)
    without, infos_off = _scan_org(org, False, monkeypatch)
    with_, infos_on = _scan_org(org, True, monkeypatch)
    assert with_ == without
    assert sum(i["blobs_searched"] for i in infos_on.values()) > 0  # git grep did decide
    assert sum(i["blobs_parsed"] for i in infos_on.values()) < sum(i["blobs_parsed"] for i in infos_off.values())


def test_every_config_row_passes_the_yaml_prefilter() -> None:
    """The config table's rows and the YAML prefilter (`configs._YAML_NAMES`/`_YAML_KEYS`, which
    decides which YAML is parsed) agree: a document a row applies to is always parsed."""
    from mlaudit.collectors.git import configs, mlconfig

    samples = {
        "feast": ("repo/feature_store.yaml", "project: p\nprovider: local\nregistry: r.db\n"),
        "bentoml": ("bentofile.yaml", "service: svc:Svc\n"),
        "ray_serve": ("serve.yaml", "applications:\n  - import_path: app:dep\n"),
        "prometheus": ("rules.yml", "groups:\n  - rules:\n      - expr: model_latency > 1\n"),
        "grafana": ("dash.yml", "panels:\n  - targets:\n      - expr: prediction_drift\n"),
        "evidently": ("mon.yml", "metrics:\n  - evidently.metrics.ColumnDriftMetric\n"),
        "dstack": ("ops/train.dstack.yml", "type: task\ncommands: [python train.py]\n"),
        "skypilot": ("sky/job.yaml", "resources:\n  accelerators: A100\nrun: python train.py\n"),
    }
    rows = (*mlconfig.NAMED_CONFIGS, *mlconfig.EVERY_CONFIG)
    assert {r.name for r in rows} == set(samples)
    for row in rows:
        path, text = samples[row.name]
        data = configs.load_yaml(text)
        assert row.applies(path.rsplit("/", 1)[-1], data), row.name
        assert all(k in text for k in row.keywords), row.name
        assert configs._YAML_NAMES.search(path) or configs._YAML_KEYS.search(text), row.name


# -- keywords in comments and strings ----------------------------------------------------------------
def _names(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        for attr in ("id", "attr", "arg", "name", "module"):
            value = getattr(node, attr, None)
            if isinstance(value, str):
                out.update(value.split("."))
    return out


def test_code_text_keeps_every_name_the_parser_sees() -> None:
    """Blanking comments and strings never loses a name: over this project's own Python and every
    snippet of the test corpus, each identifier of the AST is still a whole word of `code_text`."""
    import re

    from mlaudit.collectors.git.prefilter import code_text

    root = TESTS.parent
    sources = [p.read_text() for d in ("collectors", "checks", "auditor", "tests") for p in (root / d).rglob("*.py")]
    sources += [t for _, files in _corpus() for p, t in files.items() if p.endswith(".py") and isinstance(t, str)]
    checked = 0
    for text in sources:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        kept = set(re.findall(r"\w+", code_text(text)))
        assert _names(tree) <= kept, sorted(_names(tree) - kept)[:5]
        checked += 1
    assert checked > 300
    blanked = code_text('x = "mlflow" + f"{mlflow.y}"  # mlflow\nreturn"wandb"; rb"neptune"\n')
    assert blanked.count("mlflow") == 1 and "wandb" not in blanked and "neptune" not in blanked


DECOYS = {
    # a tool named only in a docstring, a comment and string literals: nothing to parse
    "app/notes.py": '"""Runs are tracked in mlflow; see wandb for the old ones."""\n'
                    "# TODO: move to neptune once the team agrees\n"
                    "LABEL = 'sklearn model'\nURL = r\"http://mlflow.internal\"\n\n"
                    "def total(rows):\n    return sum(rows)\n",
    "app/strings.py": "def describe():\n    return'''train the model with mlflow\n'''\n",
    # ... the same names used for real: found
    "app/track.py": "import mlflow\n\nwith mlflow.start_run():\n    mlflow.log_metric('auc', 0.9)\n",
    "app/fstr.py": "import wandb as w\n\nprint(f\"{w.log({'loss': 1})}\")\n",
    "app/returned.py": 'import mlflow\n\ndef go():\n    return"x" + mlflow.register_model("runs:/1/m", "m")\n',
    # a Python 2 module (it does not parse): its import lines still count for the census
    "legacy/old.py": '"""Old code.\nimport sklearn\n"""\nprint "hello"\n',
    # a notebook: a string in one cell never hides the code of the next one
    "nb/eda.ipynb": json.dumps({"nbformat": 4, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["s = '''mlflow\n"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["import mlflow\n", "mlflow.autolog()\n"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["'''\n"]}]}),
    "nb/prose.ipynb": json.dumps({"nbformat": 4, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["# compare with the mlflow runs\n", "x = 1\n"]}]}),
}


def test_keywords_only_in_comments_and_strings_are_not_parsed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a decoy-rich repository (real git) the prefilter parses fewer files and finds exactly
    the evidence a parse of every file finds."""
    org = tmp_path / "org"
    make_repo(org / "decoys", DECOYS)
    without, infos_off = _scan_org(org, False, monkeypatch)
    with_, infos_on = _scan_org(org, True, monkeypatch)
    assert with_ == without
    tools = {(f[0], t) for f in with_ for t in ("mlflow", "wandb") if f"'tool', '{t}'" in f[2]}
    assert ("experiment_tracking", "mlflow") in tools and ("experiment_tracking", "wandb") in tools
    census = next(f for f in with_ if f[0] == "ml_frameworks")
    assert "sklearn" in census[2]  # from the Python 2 module's import line
    parsed_on, parsed_off = infos_on["decoys"]["blobs_parsed"], infos_off["decoys"]["blobs_parsed"]
    assert (parsed_off, parsed_on) == (8, 5)  # notes.py, strings.py and prose.ipynb are not parsed


def test_test_modules_are_parsed_first_and_ruled_out_only_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test module is parsed before the prefilter's Python stage is asked; one whose parse shows
    no test function is still ruled out exactly when that stage rules it out (its `test` words
    only in comments and strings), and the evidence is that of parsing everything."""
    files = {
        "src/model.py": "import sklearn\n",
        "tests/test_model.py": "from src import model\n\ndef test_fit():\n    assert model\n",
        "tests/test_notes.py": '"""test notes"""\nX = 1  # a test\n',
        "tests/test_helpers.py": "def make_model():\n    return 1  # no test function\n\nfixture = make_model\n",
        "tests/test_broken.py": "def test_x(:\n  test\n",
    }
    views = {flag: RepoView.from_files("tests-first", files) for flag in (False, True)}
    without = _analyze(lambda: views[False], False, monkeypatch)
    with_ = _analyze(lambda: views[True], True, monkeypatch)
    assert with_ == without
    # all five without the prefilter; with it, test_notes.py and test_helpers.py are ruled out
    # (no keyword in their code) and src/model.py is parsed for its import
    assert (views[False].parsed, views[True].parsed) == (5, 3)
    ml_tests = next(f for f in with_ if f[0] == "ml_tests")
    assert ml_tests[1].endswith("tests/test_model.py:3@000000000000") and "src.model" in ml_tests[2]


def test_the_keyword_search_is_skipped_only_where_the_requirements_imply_it() -> None:
    """A text meeting a requirement of the code prefilter always holds one of its keywords, so its
    search is not run first; the answers are those of the search followed by the requirements,
    over every Python text of the corpus. A requirement no keyword stands in for keeps the search."""
    from mlaudit.collectors.git.prefilter import Prefilter

    pf = code.code_prefilter()
    assert pf._search_implied
    texts = [t for _, tree in _corpus() for p, t in tree.items() if p.endswith(".py") and isinstance(t, str)]
    assert len(texts) > 300
    for text in texts:
        searched = ("{{" in text or "{%" in text
                    or (pf._rx.search(text) is not None and pf.meets(text))
                    or any(all(rx.search(text) for rx in conj) for conj in pf._conds))
        assert pf.wanted(text) == searched, text[:80]
        if pf.meets(text):
            assert pf._rx.search(text), text[:80]
    # `mlflow` alone is searched for, but a requirement asks for `sagemaker`: not implied, so a
    # text holding only `sagemaker` is refused by the search before the requirements are asked
    odd = Prefilter([Keyword("mlflow")], requirements=[(frozenset((Keyword("sagemaker"),)),)])
    assert not odd._search_implied
    assert not odd.wanted("import sagemaker\n")
    assert odd.wanted("import sagemaker, mlflow\n") and not odd.wanted("import mlflow\n")


def test_the_words_of_a_text_are_its_identifier_runs_whether_ascii_or_not() -> None:
    """The second look's set of words (split on a translated copy where the text is ASCII) is
    exactly the runs of `[A-Za-z0-9_]` the expression finds, on every Python text of the corpus and
    on texts mixing other characters."""
    import re

    from mlaudit.collectors.git.prefilter import _Present

    runs = re.compile(r"[A-Za-z0-9_]+")
    texts = [t for _, tree in _corpus() for p, t in tree.items() if p.endswith(".py") and isinstance(t, str)]
    texts += ["a\tb\x0bc\x0cd\x1ce\x1df\x1eg\x1fh", "a\x1cb\x85c", "café = torch_x + 1", "x=1;y=2\r\nz", "", "\x00a\x7fb"]
    for text in texts:
        assert _Present(text, {}).words == set(runs.findall(text)), text[:80]
