"""The history section (issue 15) in a real browser: a report with eight backfilled quarters
and a survey (not readable in the past) renders offline at 1366 px and 375 px and in print, and
its trend stays small for a 200-repository estate."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gitutil import git

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def history_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datetime import UTC, datetime

    from mlaudit.history import quarter_ends

    tmp = tmp_path_factory.mktemp("history-browser")
    ends = quarter_ends(8, datetime.now(UTC).date())
    steps = [(0, {"churn/train.py": "import sklearn\nfrom sklearn.linear_model import LogisticRegression\n"
                                    "def train(x, y):\n    return LogisticRegression().fit(x, y)\n",
                  "requirements.txt": "scikit-learn==1.4\n"}),
             (3, {"tests/test_train.py": "from churn.train import train\n\ndef test_t():\n    assert train\n"}),
             (6, {".github/workflows/ci.yml": "on: [push]\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
                                              "      - run: pytest\n", "CODEOWNERS": "* @acme/ml\n"})]
    for name in ("churn", "pricing"):
        repo = tmp / "org" / name
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        for quarter, files in steps if name == "churn" else steps[:2]:
            for rel, text in files.items():
                (repo / rel).parent.mkdir(parents=True, exist_ok=True)
                (repo / rel).write_text(text)
                git(repo, "add", "--", rel)
            when = f"{ends[quarter].isoformat()}T09:00:00+0000"
            git(repo, "commit", "-q", "-m", "step", env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})
    env = {k: v for k, v in os.environ.items() if k not in ("MLAUDIT_CONFIG", "MLAUDIT_HISTORY")}
    out = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", str(tmp / "org"), "--survey",
                          str(ROOT / "examples" / "survey-answers.yaml"), "--history", str(tmp / "hist"),
                          "--backfill", "8", "-o", str(tmp / "report")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return tmp / "report" / "report.html"


def test_trend_renders_offline_first_on_the_page(open_report: Any, history_html: Path, artifacts: Path) -> None:
    opened = open_report(history_html, width=1366)
    page = opened.page
    assert opened.requests == [opened.url] and opened.console_errors == []
    first = page.evaluate("document.querySelector('main > section').id")
    assert first == "trend"
    svg = page.locator("#trend svg.trend")
    assert svg.is_visible() and svg.get_attribute("role") == "img"
    assert "Level per dimension over 8 runs" in svg.get_attribute("aria-label")
    # one marker per run and series (5 series x 8 runs), each with its own title
    assert svg.locator("g.series > * > title").count() == 40
    # backfilled points could not read the survey: hatched, with a dagger
    assert svg.locator('rect[fill="url(#tr-unread)"]').count() == 7
    assert page.locator("#trend figcaption").inner_text().count("†") == 1
    assert page.locator("#since-last-review").is_visible()
    assert page.locator("#teams").count() == 0
    page.screenshot(path=str(artifacts / "history-report.png"))


def test_trend_fits_375px_and_prints(open_report: Any, history_html: Path, artifacts: Path) -> None:
    page = open_report(history_html, width=375, height=812).page
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    # the chart keeps a readable size and scrolls inside its own box (the table says the same)
    box = page.locator("#trend .scroll").first.bounding_box()
    assert box is not None and box["width"] <= 375
    svg = page.locator("#trend svg.trend").bounding_box()
    assert svg is not None and svg["width"] >= 560
    assert page.locator("#trend .scroll-hint").is_visible()
    page.screenshot(path=str(artifacts / "history-report-375.png"))
    page = open_report(history_html).page
    page.emulate_media(media="print")
    assert page.locator("#trend svg.trend").is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    (artifacts / "history-report.pdf").write_bytes(pdf)


def test_history_section_stays_small_for_200_repositories(history_html: Path) -> None:
    from mlaudit.reports import render_html

    report = json.loads(history_html.with_name("report.json").read_text())
    base = len(render_html(report).encode())
    big = copy.deepcopy(report)
    since = big["history"]["since_last_review"]
    since["evidence"] = [{"subject": f"repo-{i:03d}", "new": [f"git:ci_pipeline repo-{i:03d}:.github/w{j}.yml" for j in range(20)],
                          "lost": [f"git:tests repo-{i:03d}:tests/t{j}.py" for j in range(20)]} for i in range(200)]
    since["repositories"] = [{"name": f"repo-{i:03d}", "from": 1, "to": 2, "change": 1, "status": "kept"} for i in range(200)]
    html = render_html(big)
    # 200 repositories' changes add well under 100 KB: counts for all, keys only while the budget lasts
    assert len(html.encode()) - base < 100_000
    assert "repo-199" in html and "more in report.json" in html
