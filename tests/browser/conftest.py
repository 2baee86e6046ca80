"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), headless, offline.

Chromium is /usr/bin/chromium (`apt-get install -y chromium`), never Playwright's own download.
Without it the browser tests are skipped on a workstation and fail in CI (env CI set), where
they must run. Every page records its requests and console errors, and any request that is not
the report's own file:// URL is aborted as well as recorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("MLAUDIT_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def _require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the browser tests must run in CI")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed: pip install -e '.[test]'")
        pytest.skip("playwright is not installed (pip install playwright)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Opened:
    """A page showing a report, with what it asked for and what it complained about."""

    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def open_report(browser: Any) -> Iterator[Any]:
    """open_report(path, width=1280, javascript=True) -> Opened; contexts are closed after."""
    contexts: list[Any] = []

    def _open(path: Path, width: int = 1280, height: int = 900, javascript: bool = True) -> Opened:
        url = Path(path).resolve().as_uri()
        context = browser.new_context(viewport={"width": width, "height": height},
                                      java_script_enabled=javascript)
        contexts.append(context)
        page = context.new_page()
        opened = Opened(page, url)

        def route(r: Any) -> None:
            if r.request.url == url:
                r.continue_()
            else:
                r.abort()

        context.route("**/*", route)
        page.on("request", lambda req: opened.requests.append(req.url))
        page.on("console", lambda msg: opened.console_errors.append(msg.text)
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: opened.console_errors.append(str(exc)))

        def dialog(d: Any) -> None:
            opened.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(url, wait_until="load")
        return opened

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`mlaudit demo` run once for the browser tests (the same code path as the command)."""
    from mlaudit.demo import run_demo

    return run_demo(tmp_path_factory.mktemp("demo") / "mlaudit-demo")


@pytest.fixture(scope="session")
def demo_html(demo_run: Any) -> Path:
    return demo_run.written["html"]


@pytest.fixture(scope="session")
def sample_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The renderer tests' engine output (tests/enginereport.py): hostile names and excerpts."""
    from enginereport import engine_report

    from mlaudit.reports import write_reports

    return write_reports(engine_report(), tmp_path_factory.mktemp("sample"))["html"]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
