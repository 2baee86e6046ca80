"""The distribution is one namespaced package: the wheel holds `mlaudit` (and its metadata) and
nothing else at the top level, its data files travel with it, and the console script points
into it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, cwd=out, capture_output=True)
    (found,) = out.glob("mlaudit-*.whl")
    return found


def test_the_wheel_holds_only_mlaudit(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"mlaudit"}
    for data in ("mlaudit/config.schema.json", "mlaudit/survey_questions.yaml",
                 "mlaudit/checks/rubric.yaml", "mlaudit/reports/report.schema.json",
                 "mlaudit/reports/templates/report.html.j2", "mlaudit/checks/framework.schema.json",
                 "mlaudit/reports/templates/_frameworks.html.j2"):
        assert data in names, data
    # the shipped frameworks (docs/frameworks.md)
    for framework in (ROOT / "checks" / "framework_files").glob("*.yaml"):
        assert f"mlaudit/checks/framework_files/{framework.name}" in names, framework
    # each source's config section schema travels with its collector
    for fragment in (ROOT / "collectors").glob("*/settings.schema.json"):
        assert f"mlaudit/collectors/{fragment.parent.name}/settings.schema.json" in names, fragment
    # every folder of the card with Python in it is in the wheel
    for folder, package in (("auditor", "mlaudit"), ("checks", "mlaudit/checks"),
                            ("collectors", "mlaudit/collectors"), ("reports", "mlaudit/reports")):
        for source in (ROOT / folder).rglob("*.py"):
            assert f"{package}/{source.relative_to(ROOT / folder).as_posix()}" in names, source
    # the AST walk in C (collectors/git/_astwalk.c), compiled for this interpreter
    assert any(n.startswith("mlaudit/collectors/git/_astwalk.") and n.endswith((".so", ".pyd")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mlaudit = mlaudit.cli:run" in zipfile.ZipFile(wheel).read(entry).decode()


def test_generic_top_level_names_are_not_importable() -> None:
    code = ("import importlib.util, sys\n"
            "found = [n for n in ('auditor', 'checks', 'collectors', 'reports') if importlib.util.find_spec(n)]\n"
            "print(','.join(found))")
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""
