"""report.html in a real browser (Chromium via Playwright): it renders offline without errors,
expands evidence with or without scripting, links where it should, keeps hostile text as text,
prints to several A4 pages and fits a 375 px screen."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from enginereport import GITHUB_URL, XSS, XSS_REPO, repo_commit

REPORTS = ["demo_html", "sample_html"]


def _report_of(html: Path) -> dict[str, Any]:
    return json.loads(html.with_name("report.json").read_text(encoding="utf-8"))


def _finding(page: Any, check_id: str) -> Any:
    return page.locator(f'details[id="finding-{check_id}"]')


@pytest.mark.parametrize("which", REPORTS)
def test_renders_offline_without_errors(open_report: Any, which: str,
                                        request: pytest.FixtureRequest) -> None:
    html = request.getfixturevalue(which)
    opened = open_report(html)
    page = opened.page
    assert opened.requests == [opened.url]  # nothing but the file itself, ever
    assert opened.console_errors == []
    assert opened.dialogs == []
    assert page.locator("h1").count() == 1
    assert page.locator("main section#summary .overall-level").is_visible()
    ladder = page.locator("#ladder svg.ladder-svg")
    assert ladder.is_visible()
    assert ladder.get_attribute("role") == "img"
    assert "Maturity ladder" in ladder.locator("desc").text_content()
    # the picture has one cell per level and dimension, each with its own title
    assert ladder.locator("g.lc").count() == 20
    assert ladder.locator("g.lc > title").count() == 20
    assert page.evaluate("document.querySelectorAll('script, link, img, iframe').length") == 0


def test_demo_report_screenshots(open_report: Any, demo_html: Path, artifacts: Path) -> None:
    opened = open_report(demo_html)
    opened.page.screenshot(path=str(artifacts / "demo-report.png"), full_page=False)
    opened.page.screenshot(path=str(artifacts / "demo-report-full.png"), full_page=True)
    narrow = open_report(demo_html, width=375, height=812)
    narrow.page.screenshot(path=str(artifacts / "demo-report-375.png"), full_page=False)
    assert (artifacts / "demo-report.png").stat().st_size > 10_000


def test_evidence_expands_on_click_and_keyboard(open_report: Any, demo_html: Path) -> None:
    page = open_report(demo_html).page
    finding = _finding(page, "L3.ci-tests")
    evidence = finding.locator("ul.evidence")
    assert not evidence.is_visible()
    finding.locator("summary").click()
    assert evidence.is_visible()
    assert finding.get_attribute("open") is not None
    other = _finding(page, "L3.model-registry")
    other.locator("summary").focus()
    page.keyboard.press("Enter")
    assert other.locator("ul.evidence").is_visible()


def test_evidence_expands_without_javascript(open_report: Any, demo_html: Path) -> None:
    opened = open_report(demo_html, javascript=False)
    finding = _finding(opened.page, "L2.experiment-tracking")
    finding.locator("summary").click()
    assert finding.locator("ul.evidence").is_visible()
    assert opened.requests == [opened.url]


def test_demo_links_point_at_the_evidence(open_report: Any, demo_html: Path, tmp_path: Path) -> None:
    """The demo is a sandbox run: its locators (github.com/example, 127.0.0.1:5000) are text.
    Rendered as if it were not, the same evidence links where it should."""
    from mlaudit.reports import write_reports

    report = _report_of(demo_html)
    sandboxed = open_report(demo_html).page
    assert "Sandbox run:" in sandboxed.locator("header").inner_text()
    for href in sandboxed.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        assert not any(x in href for x in ("example", "127.0.0.1", "console.aws")), href
    assert sandboxed.locator("code.sandbox-locator").count() > 20
    report["run"]["sandbox"] = False
    page = open_report(write_reports(report, tmp_path, formats=("html",))["html"]).page
    repos = {e["subject"]: e["attributes"] for e in report["evidence"] if e["signal"] == "repository"}
    ci = next(e for e in report["evidence"]
              if e["subject"] == "churn-service" and e["signal"] == "ci_pipeline")
    sha, attrs = repos["churn-service"]["commit"], ci["attributes"]
    expected = (f"https://github.com/example/churn-service/blob/{sha}/{attrs['path']}"
                + (f"#L{attrs['line']}" if attrs.get("line") else ""))
    link = page.locator(f'a[href="{expected}"]').first
    assert link.text_content() == ci["locator"]
    gitlab = page.locator('a[href^="https://gitlab.com/example/ml-platform/-/blob/"]')
    assert gitlab.count() > 0
    # MLflow items link their UI page, AWS items their console page
    model = next(e for e in report["evidence"] if e["signal"] == "registered_model"
                 and e["collector"] == "mlflow")
    assert page.locator(f'a[href="{model["attributes"]["ui_url"]}"]').count() > 0
    endpoint = next(e for e in report["evidence"] if e["signal"] == "endpoint")
    console = endpoint["attributes"]["console_url"]
    assert console.startswith("https://") and "console.aws.amazon.com" in console
    assert page.locator(f'a[href="{console}"]').count() > 0
    # GX results have no web page: their identifiers are shown as text
    gx = next(e for e in report["evidence"] if e["signal"] == "gx_validation")
    assert page.locator("code", has_text=gx["locator"]).count() > 0
    assert page.locator("a", has_text=gx["locator"]).count() == 0
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        assert href.startswith(("#", "https://", "http://")), href


def test_sample_links_and_hostile_text(open_report: Any, sample_html: Path) -> None:
    opened = open_report(sample_html)
    page = opened.page
    report = _report_of(sample_html)
    ci = next(e for e in report["evidence"] if e["subject"] == "churn-service" and e["signal"] == "ci_pipeline")
    line = ci["locator"].split(":")[-1].split("@")[0]
    link = f"{GITHUB_URL}/blob/{repo_commit('churn-service')}/.github/workflows/ci.yml#L{line}"
    assert page.locator(f'a[href="{link}"]').count() >= 1
    finding = _finding(page, "L3.infrastructure-as-code")
    finding.locator("summary").click()
    # the repository called <script>alert(1)</script> is text on the page, and nothing ran
    text = finding.get_by_text(XSS_REPO, exact=False).first
    assert text.is_visible()
    assert XSS in finding.inner_text()
    assert opened.dialogs == []
    assert page.evaluate("document.scripts.length") == 0
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.title().endswith("Level 2 Exploring")
    assert "Acme & Co <ML>" in page.locator("h1").inner_text()


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


@pytest.mark.parametrize("which", REPORTS)
def test_prints_to_a4_pages_with_findings_expanded(open_report: Any, which: str,
                                                   request: pytest.FixtureRequest,
                                                   artifacts: Path, tmp_path: Path) -> None:
    html = request.getfixturevalue(which)
    page = open_report(html).page
    page.emulate_media(media="print")
    # printing shows every finding's verdict without anyone clicking, not its evidence list
    finding = page.locator("details.finding").first
    assert finding.locator("dt.verdict + dd").is_visible()
    assert not finding.locator("dt.print-detail").first.is_visible()
    assert not finding.locator(".evidence-block").is_visible()
    assert page.locator("nav").first.is_hidden()
    # rendered with --print-evidence, the evidence prints too
    from mlaudit.reports import write_reports

    full = write_reports(_report_of(html), tmp_path, formats=("html",), print_evidence=True)["html"]
    with_evidence = open_report(full).page
    with_evidence.emulate_media(media="print")
    assert with_evidence.locator("details.finding ul.evidence").first.is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    assert _pdf_pages(pdf) >= 2
    if which == "demo_html":
        (artifacts / "demo-report.pdf").write_bytes(pdf)


@pytest.mark.parametrize("which", REPORTS)
def test_fits_a_375px_screen(open_report: Any, which: str, request: pytest.FixtureRequest) -> None:
    page = open_report(request.getfixturevalue(which), width=375, height=812).page
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    # open every finding: expanded evidence (long locators, excerpts) must wrap, not overflow
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    assert page.evaluate("document.body.scrollWidth") <= 376


def test_frameworks_section_fits_375px_and_prints(open_report: Any, sample_html: Path,
                                                  artifacts: Path) -> None:
    page = open_report(sample_html, width=375, height=812).page
    section = page.locator("section#frameworks")
    section.scroll_into_view_if_needed()
    box = section.bounding_box()
    assert box is not None and box["width"] <= 375
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    assert "Google Cloud MLOps levels: level 1 (ML pipeline automation) achieved" in section.inner_text()
    section.screenshot(path=str(artifacts / "frameworks-375.png"))
    page.emulate_media(media="print")
    assert section.is_visible() and page.locator("ul.criteria li").first.is_visible()
