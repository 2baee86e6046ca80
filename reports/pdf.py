"""report.pdf: report.html printed to A4 by the system Chromium, driven by Playwright.

Only the machine's own Chromium is used (`MLAUDIT_CHROMIUM`, /usr/bin/chromium, or a Chromium
on PATH), never a browser Playwright downloads. The page is opened offline: any request but the
report's own file is aborted, and scripts are off. Page numbers come from Chromium's footer
template ("page N of M"), since CSS @page counters are not printed by Chromium.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

PDF_FILE = "report.pdf"
#: where the system Chromium is looked for, after $MLAUDIT_CHROMIUM
CHROMIUM_PATHS = ("/usr/bin/chromium",)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
FOOTER = ('<div style="width:100%;font:8px system-ui,sans-serif;color:#5b6570;text-align:center;">'
          'page <span class="pageNumber"></span> of <span class="totalPages"></span></div>')
HOW_TO_GET = ("install Chromium (Debian/Ubuntu: apt-get install chromium) or set MLAUDIT_CHROMIUM "
              "to its path")


class PdfUnavailable(Exception):
    """The PDF cannot be made here; the message is one line saying why and what to do."""


def find_chromium() -> str | None:
    """The system Chromium's path, or None."""
    given = os.environ.get("MLAUDIT_CHROMIUM")
    candidates = [given] if given else [*CHROMIUM_PATHS, *filter(None, map(shutil.which, CHROMIUM_NAMES))]
    return next((c for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)), None)


def _print(browser: Any, url: str) -> bytes:
    """A4 with page numbers, offline (only `url` itself is fetched), scripts off."""
    context = browser.new_context(java_script_enabled=False)
    try:
        context.route("**/*", lambda r: r.continue_() if r.request.url == url else r.abort())
        page = context.new_page()
        page.goto(url, wait_until="load")
        return page.pdf(format="A4", print_background=True, display_header_footer=True,
                        header_template="<span></span>", footer_template=FOOTER,
                        margin={"top": "12mm", "bottom": "14mm", "left": "14mm", "right": "14mm"})
    finally:
        context.close()


def _print_with_system_chromium(html: Path, name: str) -> bytes:
    chromium = find_chromium()
    if chromium is None:
        where = os.environ.get("MLAUDIT_CHROMIUM") or "/usr/bin/chromium or chromium on PATH"
        raise PdfUnavailable(f"no Chromium found ({where}), so {name} was not written: {HOW_TO_GET}")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise PdfUnavailable(f"playwright is not installed, so {name} was not written: "
                             "pip install 'mlaudit[pdf]'") from None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
            try:
                return _print(browser, html.as_uri())
            finally:
                browser.close()
    except PlaywrightError as exc:
        first = (str(exc).strip().splitlines() or ["unknown error"])[0]
        raise PdfUnavailable(f"Chromium ({chromium}) could not print {html.name}: {first}") from None


def write_pdf(html: Path, pdf: Path | None = None, browser: Any = None) -> Path:
    """Print `html` to `pdf` (default: report.pdf beside it), atomically. Raises PdfUnavailable.
    `browser`: a Playwright Chromium already running (tests); else the system one is started."""
    html = Path(html).resolve()
    pdf = Path(pdf) if pdf is not None else html.with_name(PDF_FILE)
    if browser is not None:
        data = _print(browser, html.as_uri())
    else:
        data = _print_with_system_chromium(html, pdf.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{pdf.name}.", suffix=".tmp", dir=pdf.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # as any file the user writes (mkstemp makes 0600)
        os.replace(tmp, pdf)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return pdf
