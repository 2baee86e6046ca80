"""Unscored plugin checks in report.html ("Other checks"), on real engine output: a plugin source
and a plugin check registered as the entry point loader does, audited by the engine, rendered and
opened in Chromium at 375 px and in print."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sources import TOY_COLLECTOR, TOY_SETTINGS

from mlaudit import sources
from mlaudit.checks import PluginChecks, Verdict
from mlaudit.checks.definitions import add_plugin_checks, remove_plugin_checks
from mlaudit.evidence import Outcome
from mlaudit.sources import SOURCES, Source, register

LONG = "a-very-long-unbroken-run-name-" * 6


def _runs_ok(ctx: Any) -> Verdict | None:
    runs = ctx.signal("toy_run")
    bad = [r for r in runs if not r.attributes["ok"]]
    return Verdict(Outcome.FAIL if bad else Outcome.PASS,
                   f"{len(runs) - len(bad)} of {len(runs)} toy run(s) ok: {LONG}", runs) if runs else None


@pytest.fixture
def other_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from mlaudit.config import parse_config
    from mlaudit.engine import audit
    from mlaudit.reports import write_reports

    pkg = tmp_path / "pkgs" / "toysrc"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "settings.py").write_text(textwrap.dedent(TOY_SETTINGS))
    (pkg / "collector.py").write_text(textwrap.dedent(TOY_COLLECTOR))
    (pkg / "settings.schema.json").write_text('{"type": "object", "properties": {"folder": {"type": "string"}}}')
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    register(Source("toy", "T", "toy runs", "toy", "point toy: at a folder of runs (toy:)",
                    ("toy folder", "toy folders"), "toysrc.settings:from_config",
                    "toysrc.collector:ToyCollector", "toysrc:settings.schema.json"))
    try:
        add_plugin_checks(PluginChecks(
            rubric=[{"id": "toy.runs-ok", "title": "Toy runs end ok <script>x</script>",
                     "criterion": "Every toy run ends ok.", "collectors": ["T"],
                     "remediation": "Fix the failing toy runs."}],
            evaluators={"toy.runs-ok": _runs_ok}), "plugin toy (mlaudit-toy)")
        runs = tmp_path / "runs"
        runs.mkdir()
        (runs / f"{LONG}.run").write_text("ok")
        (runs / "b.run").write_text("crashed")
        config = parse_config("version: 1\ntoy:\n  folder: runs\n", "mlaudit.yaml", base_dir=tmp_path)
        yield write_reports(audit(config).report, tmp_path / "out")["html"]
    finally:
        remove_plugin_checks(["toy.runs-ok"])
        del SOURCES["toy"]
        sources.source_letters.cache_clear()


def test_other_checks_fit_375px_and_print(open_report: Any, other_html: Path, artifacts: Path) -> None:
    opened = open_report(other_html, width=375, height=812)
    page = opened.page
    section = page.locator("section.level-group", has=page.locator("#other-checks-h"))
    section.scroll_into_view_if_needed()
    text = section.inner_text()
    assert "Other checks" in text and "never move a level" in text
    assert "Toy runs end ok <script>x</script>" in text  # shown as text, never run
    assert opened.dialogs == [] and opened.console_errors == []
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    box = section.bounding_box()
    assert box is not None and box["width"] <= 375
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    section.screenshot(path=str(artifacts / "other-checks-375.png"))
    page.emulate_media(media="print")
    assert section.is_visible() and page.locator('details[id="finding-toy.runs-ok"]').is_visible()
