"""Audited names that hold a `|` (a file path, a repository, a model name) never split a
Markdown table cell: GFM ends a cell at an unescaped `|` even inside a code span."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from gitutil import make_repo

from mlaudit.config import default_config
from mlaudit.engine import audit
from mlaudit.reports.markdown import md_code, render_markdown

TRAIN = "import torch\nimport sklearn\nimport mlflow\n\nmlflow.log_metric('auc', 0.9)\n"


def cells(row: str) -> list[str]:
    """A table row's cells, split as GFM splits them (at `|` not preceded by a backslash)."""
    return re.split(r"(?<!\\)\|", row.strip().strip("|"))


def test_pipes_in_audited_names_keep_every_table_row_whole(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "churn|model", {"src/train|v2.py": TRAIN, "tests/test_a|b.py": "def test_x():\n    assert 1\n"})
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"respondent": "Jane | ML", "role": "Head of ML", "date": "2026-11-30",
                                       "answers": {"S6": 2, "S13": "documented standard"}}))
    cfg = default_config(org)
    cfg.survey = answers
    md = render_markdown(audit(cfg, scan_path=org).report)
    assert "`churn\\|model@" in md, "a locator with a pipe is in a table, escaped"
    tables = 0
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(r"\|(---\|)+", line):
            tables += 1
            width = len(cells(lines[i - 1]))
            for row in lines[i + 1:]:
                if not row.startswith("|"):
                    break
                assert len(cells(row)) == width, row
    assert tables >= 3


def test_md_code_in_a_table_escapes_the_pipe_only_there() -> None:
    assert md_code("models:/a|b/1") == "`models:/a|b/1`"
    assert md_code("models:/a|b/1", table=True) == "`models:/a\\|b/1`"
