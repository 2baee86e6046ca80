"""Print and PDF (issue 15): the demo prints to at most 12 A4 pages opening with its executive
summary, page numbers in the footer, `--print-evidence` adds the evidence back, `scan --pdf`
writes report.pdf through the system Chromium, and no table splits a word at 1366 px, 375 px
or in print. Then a real 200-repository estate with eight backfilled quarters: report.html
stays under 3 MB, self-contained, with a trend chart that is readable on screen and on paper."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
A4_CONTENT_PX = 688  # 210 mm less 2 x 14 mm margins, at 96 px per inch

#: every alphabetic word in a table cell (outside code: locators may break anywhere) whose
#: rectangles fall on more than one line, i.e. a word split inside itself
SPLIT_WORDS_JS = """
() => {
  const split = [];
  for (const cell of document.querySelectorAll('main td, main th')) {
    if (!cell.getClientRects().length) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.parentElement.closest('code, pre')) continue;
      // words: letter runs not inside an alphanumeric token (a commit id like 440b94ad4453 is no word)
      for (const m of n.data.matchAll(/(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])/g)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
  }
  return split;
}
"""


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page of a PDF."""
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


SECTION_HEADINGS = {"Summary", "Maturity ladder", "Next steps", "Repositories", "Findings", "Survey", "Waivers",
                    "What was scanned", "Methodology", "Trend and since last review", "Since last review", "Teams",
                    "Product", "Process", "Technical", "Organizational", "Confidence", "Dimensions"}


def stranded_headings(pages: list[str]) -> list[tuple[int, str]]:
    """(page, line) for each page whose last line above its footer is a heading, or a finding
    group's counts line, with what it heads on the next page."""
    import re

    out = []
    for n, text in enumerate(pages[:-1], start=1):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        last = lines[-2] if len(lines) > 1 else ""
        if (last in SECTION_HEADINGS or re.match(r"^Level \d — ", last)
                or re.match(r"^([✔◐✘?⊘] \d+ \w+\s*)+$", last)):
            out.append((n, last))
    return out


def first_page_with(pages: list[str], line: str) -> int | None:
    """1-based number of the first page holding `line` as a line of its own."""
    return next((i + 1 for i, text in enumerate(pages) if line in (x.strip() for x in text.splitlines())), None)


@pytest.fixture(scope="module")
def demo_pdf(demo_html: Path, browser: Any) -> list[str]:
    from mlaudit.reports.pdf import write_pdf

    return pdf_pages(write_pdf(demo_html, demo_html.with_name("report.pdf"), browser).read_bytes())


def test_demo_pdf_is_short_and_opens_with_the_executive_summary(demo_pdf: list[str], demo_run: Any,
                                                                 artifacts: Path) -> None:
    pages = demo_pdf
    assert 4 <= len(pages) <= 12, len(pages)
    overall = demo_run.report["summary"]["overall"]
    assert f"Level {overall['level']} {overall['name']}" in pages[0].replace("\n", " ")
    assert first_page_with(pages, "Summary") == 1
    # the executive summary (summary, ladder, first next steps) fills at most three pages; the
    # findings open the fourth at the latest, on a page of their own
    assert first_page_with(pages, "Next steps") <= 3
    findings = first_page_with(pages, "Findings")
    assert findings is not None and findings <= 4
    assert pages[findings - 1].lstrip().startswith("Findings")
    # page numbers from Chromium's footer
    for n, text in enumerate(pages, start=1):
        assert f"page {n} of {len(pages)}" in text
    assert stranded_headings(pages) == []
    # no evidence lists, and the one word the grid used to split stays whole
    assert "Evidence (" not in "".join(pages)
    assert "Organizational" in pages[0]
    (artifacts / "demo-report-print.pdf").write_bytes(demo_run.written["html"].with_name("report.pdf").read_bytes())


def test_print_evidence_prints_the_evidence(demo_run: Any, tmp_path: Path, demo_pdf: list[str], browser: Any) -> None:
    from mlaudit.reports import write_reports
    from mlaudit.reports.pdf import write_pdf

    html = write_reports(demo_run.report, tmp_path, formats=("html",), print_evidence=True)["html"]
    pages = pdf_pages(write_pdf(html, browser=browser).read_bytes())
    text = "".join(pages)
    assert "Evidence (" in text and "Criterion" in text
    assert len(pages) > len(demo_pdf)
    assert first_page_with(pages, "Summary") == 1


@pytest.mark.parametrize("which", ["demo_html", "sample_html"])
def test_no_table_splits_a_word(open_report: Any, which: str, request: pytest.FixtureRequest) -> None:
    html = request.getfixturevalue(which)
    for width in (1366, 375):
        page = open_report(html, width=width).page
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.evaluate(SPLIT_WORDS_JS) == [], width
    page = open_report(html, width=A4_CONTENT_PX).page
    page.emulate_media(media="print")
    assert page.evaluate(SPLIT_WORDS_JS) == []
    # the survey table's headers, which used to print as "Clai m che ck"
    if page.locator("table.survey").count():
        assert page.locator("table.survey thead").inner_text().split() == ["Question", "Answer", "Claim", "check",
                                                                            "Observed"]


def _mlaudit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("MLAUDIT_CONFIG", "MLAUDIT_HISTORY", "MLAUDIT_CHROMIUM")}
    return subprocess.run([sys.executable, "-m", "mlaudit.cli", *args], capture_output=True, text=True,
                          env=base | (env or {}), timeout=300, stdin=subprocess.DEVNULL)


def test_scan_pdf_writes_report_pdf_beside_the_html(browser: Any, tmp_path: Path) -> None:
    from gitutil import make_repo

    make_repo(tmp_path / "org" / "churn", {"churn/train.py": "import sklearn\n", "requirements.txt": "scikit-learn\n"},
              days_ago=10)
    out = _mlaudit("scan", str(tmp_path / "org"), "--pdf", "--format", "json", "-o", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    pdf = tmp_path / "r" / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and str(pdf) in out.stdout
    assert (tmp_path / "r" / "report.html").is_file()  # the PDF is report.html printed
    pages = pdf_pages(pdf.read_bytes())
    assert "ML maturity audit" in pages[0] and f"page 1 of {len(pages)}" in pages[0]
    assert not list((tmp_path / "r").glob(".*.tmp"))


# -- 8 quarters x 200 repositories ------------------------------------------------------------
@pytest.fixture(scope="module")
def estate_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datetime import UTC, datetime

    from estate import build_estate

    from mlaudit.history import quarter_ends

    tmp = tmp_path_factory.mktemp("estate")
    build_estate(tmp / "org", quarter_ends(8, datetime.now(UTC).date()), 200)
    out = _mlaudit("scan", str(tmp / "org"), "--history", str(tmp / "hist"), "--backfill", "8",
                   "-o", str(tmp / "report"))
    assert out.returncode == 0, out.stderr
    return tmp / "report" / "report.html"


def test_200_repositories_8_quarters_stay_small_and_self_contained(estate_html: Path, open_report: Any) -> None:
    report = json.loads(estate_html.with_name("report.json").read_text())
    assert len(report["repositories"]) == 200
    trend = report["history"]["trend"]
    assert len(trend) == 8 and sum(p["backfilled"] for p in trend) == 7
    assert len({p["dimensions"]["technical"] for p in trend}) >= 3  # the estate matured
    size = estate_html.stat().st_size
    assert size <= 3 * 1024 * 1024, size
    opened = open_report(estate_html, width=1366)
    assert opened.requests == [opened.url] and opened.console_errors == []
    assert opened.page.evaluate("document.querySelectorAll('script, link, img, iframe').length") == 0
    assert opened.page.locator("#repositories tbody tr").count() == 200


def _label_boxes(page: Any) -> list[dict[str, float]]:
    return page.eval_on_selector_all("#trend svg.trend > text",
                                     "els => els.map(e => { const b = e.getBoundingClientRect();"
                                     " return {x: b.x, y: b.y, w: b.width, h: b.height, t: e.textContent}; })")


def _overlaps(boxes: list[dict[str, float]]) -> list[tuple[str, str]]:
    return [(a["t"], b["t"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a["x"] < b["x"] + b["w"] - 0.5 and b["x"] < a["x"] + a["w"] - 0.5
            and a["y"] < b["y"] + b["h"] - 0.5 and b["y"] < a["y"] + a["h"] - 0.5]


def test_estate_trend_is_readable_on_screen_and_on_paper(estate_html: Path, open_report: Any, browser: Any,
                                                         artifacts: Path) -> None:
    from mlaudit.reports.pdf import write_pdf

    for width in (1366, 375):
        page = open_report(estate_html, width=width, height=900).page
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        chart = page.locator("#trend svg.trend")
        box = chart.bounding_box()
        # never narrower than its labels can be read: at 375 px it scrolls inside its own box
        assert box is not None and 560 <= box["width"] <= 720
        # eight dated columns and the level axis, every label at least 9 px high, none on another
        boxes = _label_boxes(page)
        assert len(boxes) >= 8 + 6
        assert min(b["h"] for b in boxes) >= 9
        assert _overlaps(boxes) == [], width
        # one marker per run and series, each with its title
        assert chart.locator("g.series > * > title").count() == 8 * 5
        chart.screenshot(path=str(artifacts / f"estate-trend-{width}.png"))
    pages = pdf_pages(write_pdf(estate_html, estate_html.with_name("report.pdf"), browser).read_bytes())
    assert first_page_with(pages, "Trend and since last review") == 1
    assert "Level per dimension over the last 8 runs" in pages[0].replace("\n", " ")
    assert first_page_with(pages, "Summary") <= 3
    assert "repo-199" in "".join(pages)
    assert stranded_headings(pages) == []
