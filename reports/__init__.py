"""Renderers of the report dict: report.json (the source of truth), report.html, report.md.

Renderers are pure functions of the report dict; they know nothing of collectors or checks.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from mlaudit.reports.html import html_chunks, render_html
from mlaudit.reports.json_report import (
    SCHEMA_VERSION,
    ReportValidationError,
    json_chunks,
    load_schema,
    render_json,
    validate_report,
)
from mlaudit.reports.markdown import render_markdown

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "ReportValidationError",
    "load_schema",
    "render_html",
    "render_json",
    "render_markdown",
    "validate_report",
    "write_reports",
]

#: format name -> (file name, renderer)
FORMATS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "json": ("report.json", render_json),
    "html": ("report.html", render_html),
    "md": ("report.md", render_markdown),
}


def write_reports(
    report: dict[str, Any], out_dir: Path, formats: Iterable[str] = ("json", "html", "md"),
    extra: dict[str, bytes] | None = None, print_evidence: bool = False,
) -> dict[str, Path]:
    """Validate `report`, then write one file per format into `out_dir` (created if missing).

    Returns {format: path}. Raises `ReportValidationError` before writing anything when the
    report is invalid, and ValueError for an unknown format name.

    The files are written as a set: all into a fresh folder beside `out_dir` (unique per run, so
    concurrent runs never collide), flushed to disk, then swapped in with one atomic exchange of
    the two folders (Linux `renameat2`), or moved in one by one where that is not possible. Until
    then a failure (disk full, read-only folder, a signal, `kill -9`) leaves the previous report
    untouched; afterwards the folder holds the whole new set.

    `extra` ({file name: bytes}, e.g. evidence.json.gz) joins the set as is. `print_evidence`:
    report.html prints each finding's evidence too (by default print leaves it to the screen).
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(
            f"unknown report format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}"
        )
    validate_report(report)
    # each report is written into the staging folder as it is rendered, piece by piece (a large
    # estate's report.json is millions of pieces: joined first, they would cost several times the
    # file's size in memory); a renderer that fails leaves the staging folder, never a half set
    rendered: dict[str, Iterable[str] | bytes] = {
        FORMATS[fmt][0]: html_chunks(report, print_evidence) if fmt == "html" else _CHUNKS[fmt](report)
        for fmt in wanted}
    rendered.update(extra or {})
    out = Path(out_dir).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_stages(out)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=_STAGE_SUFFIX, dir=out.parent))
    except PermissionError:  # a writable report folder in a read-only parent
        out.mkdir(exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".report-set.", suffix=_STAGE_SUFFIX, dir=out))
    try:
        umask = _umask()
        for name, content in rendered.items():
            with open(stage / name, "wb") as fh:
                if isinstance(content, bytes):
                    fh.write(content)
                else:
                    _write_pieces(fh, content)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(stage / name, 0o666 & ~umask)
        _fsync_dir(stage)
        _install(stage, out, set(rendered), umask)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    written = {fmt: out / FORMATS[fmt][0] for fmt in wanted}
    return written | {name: out / name for name in extra or {}}


#: format name -> its renderer's pieces (joined, they are the renderer's text)
_CHUNKS: dict[str, Callable[[dict[str, Any]], Iterable[str]]] = {
    "json": json_chunks,
    "md": lambda report: (render_markdown(report),),
}


def _write_pieces(fh: Any, pieces: Iterable[str], batch: int = 8192) -> None:
    """Write text pieces as UTF-8, joining a batch at a time (one write per piece would cost
    more than the rendering). A name that slipped through with a non-UTF-8 byte is written
    escaped, never a crash."""
    it = iter(pieces)
    while held := list(islice(it, batch)):  # (a batch gathered in C, not piece by piece)
        fh.write("".join(held).encode("utf-8", errors="backslashreplace"))


_STAGE_SUFFIX = ".mlaudit-tmp"
_STALE_S = 3600.0
_RENAME_EXCHANGE = 2


def _install(stage: Path, out: Path, names: set[str], umask: int) -> None:
    """Put the staged set in place: a fresh folder is renamed, a folder that holds nothing but
    reports (and staging leftovers) is exchanged atomically, otherwise files move one by one."""
    if not out.exists():
        os.chmod(stage, 0o777 & ~umask)
        try:
            os.rename(stage, out)
            _fsync_dir(out.parent)
            return
        except OSError:
            if not out.is_dir():
                raise  # otherwise another run created it meanwhile: go on below
    swappable = stage.parent == out.parent and not out.is_symlink() and out != Path.cwd()
    if swappable and _only_reports(out, names) and _exchange(stage, out):
        _fsync_dir(out.parent)
        return  # `stage` now holds the previous set; the caller removes it
    for name in sorted(names):
        os.replace(stage / name, out / name)
    _fsync_dir(out)


def _only_reports(out: Path, names: set[str]) -> bool:
    try:
        present = {p.name for p in out.iterdir()}
    except OSError:
        return False
    return all(n in names or n.endswith(_STAGE_SUFFIX) or n.startswith(".report.") for n in present)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically; False where the system cannot (then nothing changed)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    os.chmod(a, os.stat(b).st_mode & 0o7777)
    at_cwd = -100
    return fn(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _clean_stale_stages(out: Path) -> None:
    """Staging folders a killed run left behind (older than an hour: never a running one)."""
    import time

    try:
        for p in out.parent.glob(f".{glob.escape(out.name)}.*{_STAGE_SUFFIX}"):
            if time.time() - p.stat().st_mtime > _STALE_S:
                shutil.rmtree(p, ignore_errors=True)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
