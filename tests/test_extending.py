"""docs/extending.md, followed literally: walkthroughs 1 (a new check) and 2 (a new built-in source)
are applied to a copy of mlaudit in a temporary folder — each block marked
`<!-- walkthrough: ACTION PATH -->` appended to, created as, or entered into the file it names —
and the tests they write run against that copy; walkthrough 3's snippets are the W&B plugin's
real code, and no file of mlaudit names the plugin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "extending.md"
#: the card's folders as the `mlaudit` package lays them out (pyproject package-dir)
FOLDERS = {"auditor": "mlaudit", "checks": "mlaudit/checks", "collectors": "mlaudit/collectors",
           "reports": "mlaudit/reports"}
BLOCK = re.compile(r"<!-- walkthrough: (\w+) (\S+) -->\n```\w*\n(.*?)^```$", re.S | re.M)
REGISTRY_END = "):\n    SOURCES[_source.name] = _source"


def blocks() -> list[tuple[str, str, str]]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def _target(site: Path, tmp: Path, path: str) -> Path:
    top, _, rest = path.partition("/")
    if top in FOLDERS:
        return site / FOLDERS[top] / rest
    return tmp / path


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """mlaudit copied into SITE/mlaudit (importable ahead of the installed one), the walkthrough
    applied to it; returns (site, folder of the copied tests)."""
    tmp = tmp_path_factory.mktemp("extending")
    site = tmp / "site"
    for folder, dest in FOLDERS.items():
        shutil.copytree(ROOT / folder, site / dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for action, path, text in blocks():
        if action == "plugin":
            continue
        target = _target(site, tmp, path)
        if action == "append":
            assert target.is_file(), f"{path}: the walkthrough appends to a file that does not exist"
            target.write_text(target.read_text(encoding="utf-8") + text, encoding="utf-8")
        elif action == "create":
            assert not target.exists(), f"{path}: the walkthrough creates a file that exists"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        elif action == "registry":
            source = target.read_text(encoding="utf-8")
            assert source.count(REGISTRY_END) == 1, "the registry's tuple ends where the test expects"
            target.write_text(source.replace(REGISTRY_END, text + REGISTRY_END), encoding="utf-8")
        else:
            raise AssertionError(f"unknown walkthrough action {action!r} for {path}")
    return site, tmp / "tests"


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "tests")]),
            "MLAUDIT_PLUGINS": "off"}


def test_the_walkthrough_marks_every_step() -> None:
    actions = [(a, p) for a, p, _ in blocks()]
    assert ("append", "checks/rubric.yaml") in actions and ("append", "checks/evaluators/level2.py") in actions
    assert ("registry", "auditor/sources.py") in actions
    assert len([a for a in actions if a[0] == "create"]) == 6
    assert len([a for a in actions if a[0] == "plugin"]) == 3


def test_walkthroughs_1_and_2_work_on_a_copy(copy: tuple[Path, Path]) -> None:
    site, tests = copy
    env = _env(site)
    where = subprocess.run([sys.executable, "-c", "import mlaudit; print(mlaudit.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site)  # the copy is what runs, not the installed mlaudit
    # the tests the walkthrough wrote pass against the copy (both sides of the new check, the
    # new source audited by the engine)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tests),
         "-c", os.devnull, str(tests / "test_readme_setup.py"), str(tests / "test_toy_source.py")],
        cwd=tests, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert "3 passed" in ran.stdout
    # the new check is listed by the CLI; the rubric loader accepted entry and evaluator together
    listed = subprocess.run([sys.executable, "-c", "from mlaudit.cli import main; main(['checks'])"],
                            env=env, capture_output=True, text=True)
    line = next(x for x in listed.stdout.splitlines() if x.startswith("L2.readme-setup"))
    assert line.split()[1:4] == ["L2", "process", "[G]"]
    # the installed mlaudit is untouched: the check and the source exist only in the copy
    assert "L2.readme-setup" not in (ROOT / "checks" / "rubric.yaml").read_text()
    assert not (ROOT / "collectors" / "toy").exists()


def test_walkthrough_3_shows_the_plugins_real_code() -> None:
    for action, path, text in blocks():
        if action != "plugin":
            continue
        real = (ROOT / path).read_text(encoding="utf-8")
        assert text.strip() in real, f"docs/extending.md's snippet of {path} is not its code"


def test_adding_the_plugin_touches_no_file_of_mlaudit() -> None:
    names = re.compile(r"mlaudit[-_]wandb|examples/plugin-wandb")
    for folder in (*FOLDERS, "bench", "deploy"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".json", ".yaml", ".j2", ".toml", ".txt"):
                assert not names.search(path.read_text(encoding="utf-8", errors="replace")), path
    # the build installs it and the suite runs its tests; nothing else of mlaudit refers to it
    for name, why in (("Makefile", "pip install -q -e examples/plugin-wandb"),
                      ("pyproject.toml", '"examples/plugin-wandb/tests"')):
        lines = [x for x in (ROOT / name).read_text().splitlines() if names.search(x) and not x.lstrip().startswith("#")]
        assert lines and all(why in x or ".toml" in x for x in lines), (name, lines)
