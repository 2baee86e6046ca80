"""The history commands (`rescore`, `diff`, `history list|backfill`) and the hooks `scan` calls.

Kept apart from cli.py so the scan command only gains two calls; nothing heavy is imported until
a command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mlaudit.errors import UsageError


# -- hooks for `scan` ---------------------------------------------------------------------------
def store_of(location: str | None) -> Any:
    if not location:
        return None
    from mlaudit.history import open_store

    return open_store(location)


def _store_failure(exc: BaseException, location: str) -> UsageError:
    from mlaudit.redact import redact

    return UsageError(f"history {redact(location)}: {redact(str(exc))}")


def open_history(config: Any) -> Any:
    """The configured history store (None without one); a bad LOCATION is a usage error before
    anything is scanned."""
    return store_of(config.history)


def before_write(result: Any, config: Any, store: Any, team: str | None = None) -> Any:
    """The run scoped to `team` (if given) with its team matrix, its evidence file and (with a
    history) its trend; call before write_reports. A history that cannot be read leaves the
    report without a trend and is reported after it."""
    from mlaudit.history import record, store_errors
    from mlaudit.redact import redact
    from mlaudit.teams import attach

    attach(result, config, team)
    try:
        recording = record(result, config, store, keep=config.history_keep)
    except store_errors() as exc:
        recording = record(result, config, None)
        recording.problem = (f"history {redact(store.location)} cannot be read: {redact(str(exc))}; "
                             "the report is written without its trend and the run is not stored")
    # every item is in the evidence file now, and the report holds what it cites: the items are
    # let go before the reports are rendered (on 1000 repositories, ~24 MB of objects)
    for run in result.runs:
        run.result.evidence = []
    return recording


def after_write(recording: Any, report: dict[str, Any]) -> str | None:
    """Add the run to the history; an error message when that failed (the reports are written)."""
    from mlaudit.history import store_errors
    from mlaudit.redact import redact

    if recording.problem or recording.store is None:
        return recording.problem
    try:
        recording.save(report)
    except store_errors() as exc:
        return f"the run was not added to the history {redact(recording.store.location)}: {redact(str(exc))}"
    return None


def run_backfill(config: Any, quarters: int | None, say: Any = None, ends: Any = None) -> list[str]:
    """`scan --backfill N`: the past quarter ends stored before the scan itself (or the dates
    `ends` of `history backfill --every`)."""
    from mlaudit.history import backfill, store_errors

    if not config.history:
        raise UsageError("--backfill needs a history to fill: give --history LOCATION (or `history:` in the config)")
    store = store_of(config.history)
    try:
        done = backfill(config, store, quarters, progress=say, ends=ends)
    except store_errors() as exc:
        raise _store_failure(exc, config.history) from None
    return [f"{d.isoformat()}: " + (f"stored as {rid}" if rid else "already in the history") for d, rid in done]


# -- loading a run ------------------------------------------------------------------------------
def load_run(ref: str, history: str | None) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """(report, evidence bundle or None, label) for RUN: a report folder, a report.json, or a run
    id (`latest`, `previous`, a prefix) in the history."""
    from mlaudit.history import EVIDENCE_FILE, check_bundle, read_gz_json, store_errors

    path = Path(ref)
    if path.exists():
        report_path = path / "report.json" if path.is_dir() else path
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the report {report_path}: {exc}") from None
        if not isinstance(report, dict) or "summary" not in report or "findings" not in report:
            raise UsageError(f"{report_path} is not an mlaudit report.json")
        evidence_path = report_path.parent / ((report.get("evidence_file") or {}).get("path") or EVIDENCE_FILE)
        bundle = None
        if evidence_path.is_file():
            bundle = check_bundle(read_gz_json(evidence_path.read_bytes(), str(evidence_path)), str(evidence_path))
        return report, bundle, str(report_path)
    if not history:
        raise UsageError(f"{ref!r} is neither a report folder nor a file; to name a stored run give --history LOCATION")
    store = store_of(history)
    try:
        run = store.find(ref)
        return store.report(run), store.bundle(run), run.run_id
    except store_errors() as exc:
        raise _store_failure(exc, history) from None


def _emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


HISTORY_OPTION = click.option("--history", "history", metavar="LOCATION", envvar="MLAUDIT_HISTORY",
                              help="The history (a folder or s3://bucket/prefix) holding the runs "
                                   "[default: $MLAUDIT_HISTORY].")


# -- commands -----------------------------------------------------------------------------------
@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@HISTORY_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text", show_default=True)
@click.option("--fail-on-regression", "gate", type=click.Choice(["overall", "dimension", "check"]),
              help="Exit 1 when B regressed from A: the overall level dropped (overall), any "
                   "dimension's level dropped (dimension), or any check got worse (check).")
@click.pass_context
def diff(ctx: click.Context, run_a: str, run_b: str, history: str | None, fmt: str, gate: str | None) -> None:
    """What changed from RUN_A to RUN_B: checks that moved, evidence found and lost per
    repository, level changes per dimension and repository.

    A RUN is a report folder (or its report.json) or a run of the history: its id (a unique
    prefix will do), `latest` or `previous`.
    """
    from mlaudit.history_diff import crosses, diff_runs, render_markdown, render_text

    a, bundle_a, label_a = load_run(run_a, history)
    b, bundle_b, label_b = load_run(run_b, history)
    result = diff_runs(a, b, bundle_a, bundle_b, id_a=label_a, id_b=label_b)
    if fmt == "json":
        _emit(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    elif fmt == "md":
        _emit(render_markdown(result, heading="#"))
    else:
        _emit(render_text(result))
    if crosses(result, gate):
        click.echo(f"mlaudit: regression ({gate}) from {label_a} to {label_b}", err=True)
        ctx.exit(1)


def stored_frameworks(report: dict[str, Any]) -> list[str]:
    """How to find again each framework a stored report has: its id when it is shipped or from
    an installed plugin, else the file it was read from. One no longer available is named in a
    warning and left out."""
    from mlaudit.checks.frameworks import shipped_files
    from mlaudit.plugins import load_framework_plugins

    known = {*shipped_files(), *load_framework_plugins()[1]}
    names = []
    for fw in report.get("frameworks") or []:
        if fw["id"] in known:
            names.append(fw["id"])
        elif fw.get("file") and Path(fw["file"]).is_file():
            names.append(str(fw["file"]))
        else:
            click.echo(f"mlaudit: framework {fw['id']} ({fw.get('origin')}) is no longer available; "
                       "its result is left out of the rescored report", err=True)
    return names


@click.command("rescore")
@click.argument("run")
@HISTORY_OPTION
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="Also write the rescored reports (json, html, md) into this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@click.option("--framework", "frameworks", multiple=True, metavar="NAME",
              help="Also report against a framework (repeatable, as `scan --framework`); the "
                   "frameworks the stored run reported are recomputed in any case.")
def rescore(run: str, history: str | None, out: Path | None, as_json: bool,
            frameworks: tuple[str, ...] = ()) -> None:
    """Score a stored RUN again from its evidence with the installed rubric, and say what
    changed and why (nothing is read from the audited systems). Its framework results are
    computed again from the new findings.

    RUN is a report folder holding evidence.json.gz, or a run of the history (id, `latest`).
    """
    from mlaudit.config import Config, add_frameworks
    from mlaudit.history import rescore_bundle, rubric_version
    from mlaudit.history_diff import render_text
    from mlaudit.plugins import load_plugins
    from mlaudit.reports.json_report import render_json

    load_plugins()
    old, bundle, label = load_run(run, history)
    if bundle is None:
        raise UsageError(f"{label}: no evidence.json.gz beside it; only runs that kept all their "
                         "evidence can be rescored")
    asked = Config()
    add_frameworks(asked, [*stored_frameworks(old), *frameworks], Path.cwd())
    result = rescore_bundle(bundle, frameworks=asked.frameworks)
    new = result.report
    from mlaudit.history import evidence_reference, gz_json

    data = gz_json(bundle)
    new["evidence_file"] = evidence_reference(bundle, data) | {"rubric_version": rubric_version()}
    if (old.get("run") or {}).get("as_of"):
        new["run"]["as_of"] = old["run"]["as_of"]
    from mlaudit.history_diff import diff_runs

    changes = diff_runs(old, new, bundle, bundle, id_a=f"{label} as stored", id_b=f"{label} rescored")
    identical = render_json(old["findings"]) == render_json(new["findings"])
    summary = {"run": label, "stored_rubric": bundle["rubric_version"], "current_rubric": rubric_version(),
               "findings_identical": identical, "changes": changes}
    if out is not None:
        from mlaudit.reports import write_reports

        try:
            write_reports(new, out, extra={"evidence.json.gz": data})
        except OSError as exc:
            raise UsageError(f"cannot write the rescored report to {out}: {exc}") from None
    if as_json:
        _emit(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return
    rubric = ("the same rubric" if summary["stored_rubric"] == summary["current_rubric"]
              else f"rubric {summary['current_rubric']} (stored run: {summary['stored_rubric']})")
    _emit(f"Rescored {label} from {sum(len(s['evidence']) for s in bundle['sources'])} stored evidence "
          f"items with {rubric}.\n")
    if identical:
        _emit("Findings identical to the stored run (byte for byte).\n")
    else:
        _emit(render_text(changes))


@click.group("history")
def history_group() -> None:
    """The run history: list it, or backfill past quarters from git."""


@history_group.command("list")
@HISTORY_OPTION
@click.option("--json", "as_json", is_flag=True)
def history_list(history: str | None, as_json: bool) -> None:
    """Every complete run in the history, oldest first."""
    from mlaudit.history import store_errors

    if not history:
        raise UsageError("give --history LOCATION (or set MLAUDIT_HISTORY)")
    try:
        runs = store_of(history).runs()
    except store_errors() as exc:
        raise _store_failure(exc, history) from None
    if as_json:
        _emit(json.dumps([r.manifest for r in runs], indent=2, sort_keys=True) + "\n")
        return
    for r in runs:
        m = r.manifest
        from mlaudit.reports.json_report import DIMENSIONS

        dims = " ".join(f"{k[:4]}={'-' if m['dimensions'].get(k) is None else m['dimensions'][k]}" for k in DIMENSIONS)
        note = " backfilled" + (f", unread: {','.join(m['unread_sources'])}" if m["unread_sources"] else "") \
            if m.get("backfilled") else ""
        _emit(f"{r.run_id}  {r.date}  overall={'-' if m['overall'] is None else m['overall']}  {dims}{note}\n")
    if not runs:
        _emit("no runs\n")


@history_group.command("backfill")
@HISTORY_OPTION
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), help="mlaudit.yaml (git targets).")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--quarters", type=click.IntRange(1, 40),
              help="How many past quarter ends to compute [default: 4].")
@click.option("--every", metavar="PERIOD",
              help="A point at the end of every PERIOD (1m, 2m, 3m, 4m, 6m, 1y, 2y; aligned on the "
                   "calendar, so 3m ends quarters) from --since on; at most 120 points.")
@click.option("--since", metavar="DATE", help="With --every: the first date (YYYY-MM-DD) a point may fall on.")
@click.option("--as-of", "until", metavar="DATE",
              help="With --every: the last date a point may fall on [default: yesterday].")
def history_backfill(history: str | None, config_path: Path | None, path: Path | None, quarters: int | None,
                     every: str | None, since: str | None, until: str | None) -> None:
    """Audit PATH (or the config's git repositories) as of each past quarter end (or each
    period end of --every) and store each point, so a trend exists on the first day. Git is read
    at the last commit on or before each date; live sources (MLflow, AWS, GX, survey) cannot be
    read in the past and are unknown there."""
    from mlaudit.config import default_config, load_config

    ends = backfill_dates(quarters, every, since, until)
    if config_path is not None:
        config = load_config(config_path)
    else:
        root = (path or Path(".")).resolve()
        if not root.is_dir():
            raise UsageError(f"not a folder: {root}")
        config = default_config(root)
    config.history = history or config.history
    for line in run_backfill(config, quarters or 4, say=lambda s: click.echo(f"mlaudit: {s}…", err=True), ends=ends):
        click.echo(line)


def backfill_dates(quarters: int | None, every: str | None, since: str | None, until: str | None) -> Any:
    """The dates `--every PERIOD --since DATE [--as-of END]` names (None: `--quarters`)."""
    from datetime import UTC, datetime, timedelta

    from mlaudit.history import parse_period, period_ends

    if every is None:
        if since or until:
            raise UsageError("--since and --as-of go with --every (e.g. --every 3m --since 2024-01-01)")
        return None
    if quarters is not None:
        raise UsageError("give either --quarters or --every, not both")
    if not since:
        raise UsageError("--every needs --since DATE (the first date a point may fall on)")
    months = parse_period(every)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = _day(since, "--since")
    last = _day(until, "--as-of") if until else yesterday
    if last > yesterday:
        raise UsageError(f"--as-of {last}: backfill computes past points; give {yesterday} or earlier "
                         "(today's point is `mlaudit scan --history`)")
    ends = period_ends(months, first, last)
    if not ends:
        raise UsageError(f"no end of a {every} period falls between {first} and {last}")
    return ends


def _day(text: str, option: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} wants a date as YYYY-MM-DD, got {text!r}") from None


def register(cli: click.Group) -> None:
    for command in (diff, rescore, history_group):
        cli.add_command(command)
