"""The one-way architecture, enforced: every module imports on its own in a fresh interpreter (no
import cycle), and no module imports from a layer above its own (docs/architecture.md).

The layer test reads every `import` in every module — at the top and inside functions, since a
lazy import is a dependency too — except those under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the card's folders, as packages of the one `mlaudit` distribution (pyproject.toml)
PACKAGE_DIRS = {"mlaudit": "auditor", "mlaudit.checks": "checks",
                "mlaudit.collectors": "collectors", "mlaudit.reports": "reports"}

#: each layer and the layers it may import from (its own included)
ALLOWED = {
    "core": {"core"},
    "collectors": {"core", "collectors"},
    "checks": {"core", "checks"},
    "scoring": {"core", "checks", "scoring"},
    "reports": {"core", "checks", "scoring", "reports"},
    "app": {"core", "collectors", "checks", "scoring", "reports", "app"},
    "cli": {"core", "collectors", "checks", "scoring", "reports", "app", "cli"},
}
#: the top-level modules of `mlaudit` (auditor/); a new one must be placed here
TOP_LEVEL = {
    "mlaudit": "core",
    "mlaudit.errors": "core",
    "mlaudit.redact": "core",
    "mlaudit.safe_yaml": "core",
    "mlaudit.evidence": "core",
    "mlaudit.userfiles": "core",
    "mlaudit.questions": "core",
    "mlaudit.sources": "core",
    "mlaudit.listings": "core",
    "mlaudit.scoring": "scoring",
    "mlaudit.scorememo": "scoring",
    "mlaudit.config": "app",
    "mlaudit.engine": "app",
    "mlaudit.plugins": "app",
    "mlaudit.demo": "app",
    "mlaudit.demo_org": "app",
    "mlaudit.history": "app",
    "mlaudit.history_diff": "app",
    "mlaudit.teams": "app",
    "mlaudit.fleet": "app",
    "mlaudit.fleet_celery": "app",
    "mlaudit.cli": "cli",
    "mlaudit.survey_prompt": "cli",
    "mlaudit.history_cli": "cli",
}


def all_modules() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "mlaudit" and parts and parts[0] in ("checks", "collectors", "reports"):
                continue
            out[name] = path
    return out


def layer_of(module: str) -> str:
    for prefix, layer in (("mlaudit.collectors", "collectors"), ("mlaudit.checks", "checks"),
                          ("mlaudit.reports", "reports")):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    if module not in TOP_LEVEL:
        raise AssertionError(f"{module} has no layer: place it in TOP_LEVEL (tests/test_layers.py) "
                             "and docs/architecture.md")
    return TOP_LEVEL[module]


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported mlaudit module) for every import outside `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "mlaudit"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "mlaudit":
                continue
            # `from mlaudit import safe_yaml` imports the module mlaudit.safe_yaml
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else base))
    return found


MODULES = all_modules()


def test_every_module_has_a_layer() -> None:
    assert len(MODULES) > 60
    for name in MODULES:
        layer_of(name)


def test_no_import_from_a_higher_layer_or_a_peer() -> None:
    wrong = []
    for name, path in MODULES.items():
        mine = layer_of(name)
        for line, target in imports_of(path, name):
            theirs = layer_of(target)
            if theirs not in ALLOWED[mine]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} ({mine}) imports {target} ({theirs})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_the_layer_test_sees_a_violation(tmp_path: Path) -> None:
    """The AST reader finds top-level, lazy and relative imports, and skips TYPE_CHECKING ones."""
    src = tmp_path / "mod.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "from mlaudit.evidence import EvidenceItem\n"
        "from . import runner\n"
        "if TYPE_CHECKING:\n    from mlaudit.engine import Audit\n"
        "def f():\n    from mlaudit.collectors.git.settings import GitSettings\n"
    )
    found = imports_of(src, "mlaudit.checks.mod")
    assert [t for _, t in found] == ["mlaudit.evidence", "mlaudit.checks.runner",
                                     "mlaudit.collectors.git.settings"]
    assert layer_of("mlaudit.collectors.git.settings") not in ALLOWED["checks"]


_ISOLATED = """
import importlib, json, sys, traceback
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "mlaudit" or m.startswith("mlaudit.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failures[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failures))
"""


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    """Each module imported first, with no other mlaudit module loaded (one interpreter, its
    mlaudit modules dropped before each): a cycle shows as 'partially initialized module'."""
    names = sorted(MODULES)
    done = subprocess.run([sys.executable, "-c", _ISOLATED, json.dumps(names)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert failures == {}


@pytest.mark.parametrize("name", ["mlaudit.collectors.survey.collector", "mlaudit.checks.survey_claims",
                                  "mlaudit.survey_prompt", "mlaudit.checks.runner"])
def test_the_survey_modules_import_first(name: str) -> None:
    """The modules that once formed a cycle, each in its own interpreter."""
    done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
