"""The `mlaudit` command line. Heavy libraries are imported inside commands, never at start-up."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from mlaudit import __version__
from mlaudit.errors import ConfigError, MlauditError, UsageError

log = logging.getLogger("mlaudit")
LEVEL_ALIASES = {"getting-started": 1, "exploring": 2, "building": 3, "scaling": 4, "advanced": 5}


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        where = "".join(f"{v}: " for v in (getattr(record, "collector", None),
                                             getattr(record, "repository", None)) if v)
        return f"mlaudit: {where}{record.getMessage()}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line for schedulers: timestamp, level, collector, repository, message."""

    def format(self, record: logging.LogRecord) -> str:
        from datetime import UTC, datetime

        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        return json.dumps({
            "timestamp": stamp.replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "collector": getattr(record, "collector", None),
            "repository": getattr(record, "repository", None),
            "message": record.getMessage(),
        }, ensure_ascii=False)


class _Stderr(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # stderr itself is gone: nothing left to tell


def _setup_logging(verbose: int, quiet: bool, log_format: str = "text") -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose == 1 else logging.WARNING)
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if log_format == "json" else _TextFormatter())
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _error(message: str, **extra: str | None) -> None:
    """A diagnostic on stderr, shown even with -q (through the configured log format)."""
    if not log.handlers:
        _setup_logging(0, False)
    log.error("%s", message, extra=extra)


def _parse_level(value: str | None) -> int | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v.isdigit() and 0 <= int(v) <= 5:
        return int(v)
    if v in LEVEL_ALIASES:
        return LEVEL_ALIASES[v]
    raise UsageError(f"--fail-under: expected a level 0-5 or a name ({', '.join(LEVEL_ALIASES)}), got {value!r}")


#: `--framework NAME` (repeatable), as scan, merge, demo and rescore take it
FRAMEWORK_OPTION = click.option("--framework", "frameworks", multiple=True, metavar="NAME",
              help="Also report the findings against a framework (repeatable): a shipped id "
                   "(google-mlops, microsoft-mlops, ml-test-score, ml-maturity; see `mlaudit "
                   "frameworks`) or the path of a framework file.")


def add_frameworks(config: Any, names: tuple[str, ...]) -> None:
    """The frameworks named on the command line (paths relative to the current folder)."""
    from mlaudit.config import add_frameworks as add

    add(config, names, Path.cwd())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mlaudit")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr; no summary.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Diagnostics on stderr as text, or one JSON object per line (timestamp, level, "
                   "collector, repository, message) for schedulers.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, log_format: str) -> None:
    """mlaudit: where does your ML organisation stand, and what is next?

    Reads git repositories (and, as configured, MLflow, AWS and Great Expectations), scores the
    five-level ML maturity framework per dimension, and writes a report whose every claim points
    at its evidence.
    """
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    ctx.obj["verbose"] = verbose
    ctx.obj["log_format"] = log_format
    _setup_logging(verbose, quiet, log_format)


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path),
              help="mlaudit.yaml naming exactly what to audit (default: $MLAUDIT_CONFIG).")
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="Folder for report.json, report.html and report.md [default: ./mlaudit-report].")
@click.option("--format", "formats", multiple=True, type=click.Choice(["json", "html", "md"]),
              help="Report formats to write (repeatable) [default: all].")
@click.option("--fail-under", help="Exit 1 when the overall level is below LEVEL (0-5 or a name).")
@click.option("--lookback-days", type=click.IntRange(1, 3650), help="History window in days [default: 180].")
@click.option("--aws", "with_aws", is_flag=True,
              help="Also audit AWS through the default credential chain (AWS_PROFILE, roles, ...).")
@click.option("--survey", "survey_path", type=click.Path(path_type=Path),
              help="Survey answers file (from `mlaudit survey`); overrides the config's.")
@click.option("--json", "as_json", is_flag=True, help="Also print report.json to stdout.")
@FRAMEWORK_OPTION
@click.option("--history", "history", metavar="LOCATION",
              help="Keep this run in a history (a folder or s3://bucket/prefix); the report then "
                   "shows the trend and what changed since the previous run.")
@click.option("--history-keep", type=click.IntRange(1), help="Runs the history retains [default: all].")
@click.option("--backfill", type=click.IntRange(1, 40), metavar="QUARTERS",
              help="First store the past QUARTERS quarter ends, audited from git history.")
@click.option("--as-of", "as_of", metavar="DATE",
              help="Audit as of DATE (YYYY-MM-DD): git at the last commit on or before it, windows "
                   "counted back from it; live sources (MLflow, AWS, GX) are not read.")
@click.option("--team", help="Scope the run to one team (config `teams:` or CODEOWNERS).")
@click.option("--pdf", "pdf", is_flag=True,
              help="Also write report.pdf (A4, page numbers) beside report.html, printed by the "
                   "system Chromium through Playwright; without Chromium the other reports are "
                   "written and the run exits 3.")
@click.option("--print-evidence", is_flag=True,
              help="Print (and the PDF) keep each finding's evidence list [default: left out].")
@click.option("--no-cache", is_flag=True, help="Read every repository afresh (no incremental re-scan).")
@click.option("-v", "--verbose", "sub_verbose", count=True, help="As `mlaudit -v`: phase timings, cache hits.")
@click.option("-q", "--quiet", "sub_quiet", is_flag=True, help="As `mlaudit -q`.")
@click.option("--shard", metavar="K/N",
              help="Audit only shard K (0-based) of N of the git repositories (stable by name) and "
                   "write a partial run, part-K-of-N.json, into --out; see `mlaudit merge`.")
@click.option("--dispatch", metavar="BROKER_URL",
              help="Fan the git repositories out as Celery tasks (redis://… or amqp://…) to "
                   "`mlaudit worker` processes, then merge their parts into the report.")
@click.option("--shards", type=click.IntRange(1, 10000), default=16, show_default=True,
              help="With --dispatch: how many tasks (shards).")
@click.option("--queue", default="mlaudit", show_default=True, help="With --dispatch: the Celery queue.")
@click.option("--result-backend", help="With --dispatch: where results go [default: the Redis broker, else rpc://].")
@click.pass_context
def scan(ctx: click.Context, path: Path | None, config_path: Path | None, out: Path | None,
         formats: tuple[str, ...], fail_under: str | None, lookback_days: int | None,
         with_aws: bool, survey_path: Path | None, as_json: bool, history: str | None = None,
         history_keep: int | None = None, backfill: int | None = None, team: str | None = None,
         as_of: str | None = None, no_cache: bool = False, sub_verbose: int = 0,
         sub_quiet: bool = False, shard: str | None = None, dispatch: str | None = None,
         shards: int = 16, queue: str = "mlaudit", result_backend: str | None = None,
         frameworks: tuple[str, ...] = (), pdf: bool = False, print_evidence: bool = False) -> None:
    """Audit PATH (default: .) or what --config names, and write the reports.

    Exit codes: 0 completed; 1 below --fail-under; 2 usage or config error; 3 completed with
    some collectors failing (the report says which and why).
    """
    if no_cache:
        os.environ["MLAUDIT_SCAN_CACHE"] = "off"
    config_path = config_path or (Path(os.environ["MLAUDIT_CONFIG"]) if os.environ.get("MLAUDIT_CONFIG") else None)
    if config_path is None and (path or Path(".")).is_dir():
        # the git workers' server boots (~0.25 s) while the plugins, the config and the GX
        # project search below are read
        _start_git_workers([path or Path(".")], None)
    from mlaudit.config import default_config, load_config
    from mlaudit.plugins import load_plugins

    load_plugins()  # plugin sources and their config sections
    if sub_verbose or sub_quiet:  # global options given after the subcommand
        ctx.obj["quiet"] = ctx.obj["quiet"] or sub_quiet
        ctx.obj["verbose"] = ctx.obj.get("verbose", 0) + sub_verbose
        _setup_logging(ctx.obj["verbose"], ctx.obj["quiet"], ctx.obj.get("log_format", "text"))
    quiet = ctx.obj["quiet"]
    if config_path is not None:
        if path is not None:
            raise UsageError("give either PATH or --config, not both (the config names what to audit)")
        config = load_config(config_path)
        if config.git is not None:
            _start_git_workers([t.path for t in config.git.targets if t.path is not None], config.git.workers)
    else:
        scan_path = path or Path(".")
        if not scan_path.exists():
            raise UsageError(f"path does not exist: {scan_path}")
        if not scan_path.is_dir():
            raise UsageError(f"not a folder: {scan_path}")
        config = default_config(scan_path.resolve(), aws=with_aws)
    if with_aws and config.aws is None:
        from mlaudit.config import AwsSettings

        config.aws = AwsSettings()
    if survey_path is not None:
        if not survey_path.is_file():
            raise UsageError(f"survey answers file not found: {survey_path}")
        config.survey = survey_path
    if out is not None:
        config.output = out
    if formats:
        config.formats = tuple(dict.fromkeys(formats))
    level = _parse_level(fail_under)
    if level is not None:
        config.fail_under = level
    if lookback_days is not None:
        config.lookback_days = lookback_days
    if as_of is not None:
        config.as_of = _parse_as_of(as_of)
    add_frameworks(config, frameworks)

    if shard is not None and dispatch is not None:
        raise UsageError("give either --shard or --dispatch")
    if shard is not None:  # fleet (issue 16): one shard's partial run, no report
        ctx.exit(_scan_shard(config, shard, out or Path(config.output), quiet))
    if not config.configured() and not config.discovery:
        _error(f"nothing to audit: {config.source or 'the configuration'} names no git, mlflow, aws, "
               "great_expectations or survey source; no report written")
        ctx.exit(3)

    from mlaudit.engine import audit
    from mlaudit.history_cli import before_write, open_history, run_backfill

    progress = sys.stderr.isatty() and not quiet and not as_json and ctx.obj.get("log_format") != "json"
    config.history, config.history_keep = history or config.history, history_keep or config.history_keep
    history_store = open_history(config)
    if backfill:
        for line in run_backfill(config, backfill):
            log.info("backfill %s", line)
    if progress:
        from mlaudit.collectors.base import set_progress

        click.echo("mlaudit: scanning…", err=True)
        set_progress(_TerminalBar)
    started = time.perf_counter()
    if dispatch is not None:  # fleet (issue 16): Celery fan-out
        from mlaudit.fleet_celery import dispatch as dispatch_shards

        result = dispatch_shards(config, dispatch, shards, result_backend, queue)
    else:
        result = audit(config, scan_path=None if config.source else (path or Path(".")).resolve())
    audited = time.perf_counter()
    recording = before_write(result, config, history_store, team)
    _report_and_exit(ctx, config, result, as_json, quiet, recording,
                     timings=(audited - started, audited), pdf=pdf, print_evidence=print_evidence)


def _start_git_workers(folders: list[Path], workers: int | None) -> None:
    """The git collector's worker server started while the run reads its config and finds the
    repositories (its boot is otherwise time the scan waits for); only where the scan will use
    worker processes, and not where the scan cache may answer for the repositories."""
    from mlaudit.collectors.git import scancache
    from mlaudit.collectors.git import workers as git_workers

    if workers is None:
        from mlaudit.collectors.git.settings import GitSettings

        workers = GitSettings().workers
    if git_workers.start_early(folders, workers, scancache.folder(None)):
        log.debug("git: worker server started ahead of the scan")


def _report_and_exit(ctx: click.Context, config: Any, result: Any, as_json: bool, quiet: bool,
                     recording: Any = None, timings: tuple[float, float] | None = None,
                     pdf: bool = False, print_evidence: bool = False) -> None:
    """Write the reports of an audit (and its history record), say how it went, and exit with
    its code. `timings`: (seconds the audit took, when it ended) for `-v`. `pdf`: report.pdf
    too (report.html is then always written)."""
    from mlaudit.engine import EXIT_BELOW, EXIT_PARTIAL
    from mlaudit.history_cli import after_write
    from mlaudit.reports import write_reports

    if pdf and "html" not in config.formats:
        config.formats = (*config.formats, "html")  # the PDF is report.html printed
    try:
        written = write_reports(result.report, Path(config.output), formats=config.formats,
                                extra=recording.extra if recording and "json" in config.formats else None,
                                print_evidence=print_evidence)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {config.output} (any previous report there "
                         f"is kept): {_os_error(exc)}") from None
    pdf_problem = _write_pdf(written) if pdf else None
    _collector_diagnostics(result.report)
    history_problem = after_write(recording, result.report) if recording else None
    if history_problem:
        _error(history_problem)
    if timings:
        _log_timings(result.report, timings[0], time.perf_counter() - timings[1], result.timings)
    try:
        if as_json:
            from mlaudit.reports.json_report import render_json

            _echo(render_json(result.report), nl=False)
        if not quiet:
            _echo(summary_text(result.report, written), err=as_json)
    except OSError as exc:
        _silence_stdout()
        raise UsageError(f"cannot write to stdout: {_os_error(exc)} (the reports are written "
                         f"in {config.output})") from None
    if result.exit_code == EXIT_PARTIAL:
        problems = [f"{c['name']} {c['status'] if c['status'] != 'timeout' else 'timed out'}"
                    for c in result.report["collectors"] if c["status"] in ("failed", "timeout", "partial")]
        _error(f"completed with problems (exit 3): {', '.join(problems)}; see {written.get('html') or config.output}")
    elif result.exit_code == EXIT_BELOW:
        overall = result.report["summary"]["overall"]["level"]
        got = "no level (nothing assessed)" if overall is None else f"level {overall}"
        _error(f"{got} < {config.fail_under} (--fail-under {config.fail_under})")
    ctx.exit(EXIT_PARTIAL if (history_problem or pdf_problem) and result.exit_code == 0 else result.exit_code)


def _write_pdf(written: dict[str, Path]) -> str | None:
    """report.pdf beside report.html (added to `written`); the one-line reason when it cannot be
    made (said on stderr; the run then exits 3, its other reports written)."""
    from mlaudit.reports.pdf import PdfUnavailable, write_pdf

    try:
        written["pdf"] = write_pdf(written["html"])
    except (PdfUnavailable, OSError) as exc:
        problem = f"report.pdf not written: {exc}" if isinstance(exc, OSError) else str(exc)
        _error(problem)
        return problem
    return None


class _TerminalBar:
    """One collector's progress on stderr (targets done / total, ETA), drawn by click."""

    def __init__(self, name: str, total: int) -> None:
        self._bar = click.progressbar(length=total, label=f"mlaudit: {name}", file=sys.stderr,
                                      show_eta=True, show_pos=True)
        self._bar.__enter__()

    def advance(self, n: int = 1) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


def _log_timings(report: dict, audit_s: float, render_s: float, phases: dict[str, float]) -> None:
    """-v: where the time went. Collectors run side by side; checks, scoring and the report
    model follow them (`phases`: the audit's own measures); render is the evidence file and the
    reports written."""
    runs = {c["name"]: c.get("duration_s", 0.0) for c in report.get("collectors", []) if c.get("status") != "not_configured"}
    log.info("phase timings: collectors %.2f s (%s), %s, render %.2f s, total %.2f s",
             max(runs.values(), default=0.0), ", ".join(f"{k} {v:.2f} s" for k, v in runs.items()),
             ", ".join(f"{name} {phases.get(name, 0.0):.2f} s" for name in ("checks", "scoring", "report model")),
             render_s, audit_s + render_s)


def _echo(text: str, nl: bool = True, err: bool = False) -> None:
    """click.echo that lets a closed or full stream raise OSError (EPIPE, ENOSPC)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + ("\n" if nl else ""))
    stream.flush()


def _os_error(exc: OSError) -> str:
    return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")


def _silence_stdout() -> None:
    """After stdout failed, point it at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _collector_diagnostics(report: dict) -> None:
    """Each collector error (and, unless -q, warning) on stderr, naming collector and target."""
    for c in report["collectors"]:
        for err in c["errors"]:
            target = err["target"] if err["target"] != c["name"] else None
            log.error("%s", err["message"], extra={"collector": c["name"], "repository": target})
        names = sorted((t["name"] for t in c["targets"]), key=len, reverse=True)
        for warning in c["warnings"]:
            target = next((n for n in names if warning.startswith(f"{n}: ")), None)
            message = warning[len(target) + 2 :] if target else warning
            log.warning("%s", message, extra={"collector": c["name"], "repository": target})


def _parse_as_of(text: str):
    """--as-of DATE: an ISO date, not in the future."""
    from datetime import UTC, date, datetime

    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--as-of wants a date as YYYY-MM-DD, got {text!r}") from None
    if day > datetime.now(UTC).date():
        raise UsageError(f"--as-of {day} is in the future; give today or an earlier date")
    return day


def summary_text(report: dict, written: dict[str, Path]) -> str:
    from mlaudit.reports.json_report import coverage_text, dormant_label, total_coverage

    s = report["summary"]
    overall = s["overall"]
    def level(entry: dict) -> str:  # "not assessed" is never printed as a level
        return "not assessed" if entry["level"] is None else f"level {entry['level']} ({entry['name']})"

    lines = [f"Overall: {level(overall)} — {overall['statement']}"]
    if report["run"].get("as_of"):
        lines.insert(0, f"As of {report['run']['as_of']}: git read at the last commit on or before "
                        "that date, windows counted back from it; MLflow by its timestamps "
                        "(aliases unknown); live sources not read.")
    for dim, d in s["dimensions"].items():
        lines.append(f"  {dim:<15} {level(d)}: {d['explanation']}")
    conf = s["confidence"]
    waived = s["counts"].get("waived", 0)
    lines.append(f"Confidence: {conf['assessed']} of {conf['checks']} checks assessed "
                 f"({conf['observed']} observed, {conf.get('inferred', 0)} inferred, "
                 f"{conf['self_reported']} self-reported)"
                 + (f"; {waived} of the rubric's {conf['checks'] + waived} waived" if waived else ""))
    repos = report.get("repositories") or []
    if repos:
        lines.append(f"Repositories ({len(repos)}, technical and process evidence of each):")
        for r in repos[:10]:
            weakest = r["weakest"]
            why = f" — weakest: {weakest['check_id']} {weakest['outcome']}" if weakest else ""
            dormant = dormant_label(r) if r["dormant"] else ""
            lines.append(f"  {r['name']:<30} {level(r | {'name': r['name_level']})}{dormant}{why}")
        if len(repos) > 10:
            lines.append(f"  … and {len(repos) - 10} more in the report")
    if report.get("frameworks"):
        lines.append("Frameworks (from the same findings; unknown counts as neither met nor not met):")
    for fw in report.get("frameworks") or []:
        lines.append(f"  {fw['headline']}")
        for g in fw["groups"]:
            name = f"level {g['key']} ({g['title']})" if g["level"] is not None else g["title"]
            lines.append(f"    {name}: {g['summary']}")
    other = [f for f in report["findings"] if f["level"] is None]
    if other:
        lines.append("Other checks (from plugins, not scored):")
        lines += [f"  {f['check_id']:<30} {f['outcome']}: {f['explanation']}" for f in other]
    survey = report.get("survey")
    if survey:
        n = survey["counts"]
        lines.append(f"Survey ({survey['respondent']}, {survey['date']}"
                     + (", STALE" if survey["stale"] else "") + f"): {n['contradicted']} claim(s) "
                     f"contradicted, {n['confirmed']} confirmed, {n['not_verifiable']} not verifiable")
    for w in report.get("waivers") or []:
        if w["expired"]:
            lines.append(f"! waiver for {w['check']} expired on {w['expires']}; it no longer applies")
    for c in report["collectors"]:
        total = total_coverage(c["targets"])
        if total:
            lines.append(f"Coverage ({c['name']}, {total['targets']} repositor"
                         f"{'y' if total['targets'] == 1 else 'ies'}): {coverage_text(total)}")
            partial = [t for t in c["targets"] if (t.get("coverage") or {}).get("skipped", {}).keys()
                       & {"missing objects", "corrupt objects"}]
            for t in partial[:5]:
                lines.append(f"  {t['name']}: coverage: {coverage_text(t['coverage'])}")
    problems = [c["name"] for c in report["collectors"] if c["status"] in ("failed", "timeout", "partial")]
    if problems:
        lines.append(f"Problems reading: {', '.join(problems)} (details on stderr and in the report)")
    if report["next_steps"]:
        lines.append("Next steps:")
        for step in report["next_steps"][:5]:
            lines.append(f"  - [{step['check_id']}] {step['title']}: {step['reason']}")
    if written:
        lines.append("Reports: " + ", ".join(str(p) for p in written.values()))
    return "\n".join(lines)


@cli.command()
@click.argument("path", required=False, default="mlaudit.yaml", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented starter config (default: ./mlaudit.yaml)."""
    from mlaudit.config import STARTER_CONFIG

    if path.exists() and not force:
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    try:
        path.write_text(STARTER_CONFIG)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from None
    click.echo(f"wrote {path}; edit it, then run: mlaudit scan --config {path}")


@cli.command()
@click.option("-a", "--answers", "answers_path", default="mlaudit-survey.yaml", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Answers file to write; an existing one is resumed (unanswered questions) or "
                   "edited (current answers as defaults).")
@click.option("--respondent", help="Who is answering (asked when not given).")
@click.option("--role", help="The respondent's role (asked when not given).")
@click.option("--edit", is_flag=True, help="Ask every question again, even when resuming.")
def survey(answers_path: Path, respondent: str | None, role: str | None, edit: bool) -> None:
    """Answer the survey (S1-S13) and write the answers file for `scan --survey`.

    Keyboard only: type an option's number (or its text), Enter keeps the default in
    [brackets], 'skip' leaves a question unanswered, 'back' returns to the previous one. The file
    is saved after every answer, so an interrupted session resumes where it stopped.
    """
    from mlaudit.questions import load_questions
    from mlaudit.survey_prompt import SurveyInputEnded, run_survey

    if sys.stdin is None or sys.stdin.closed:
        raise UsageError("the survey needs keyboard input, and stdin is closed; run it in a "
                         "terminal, or write the answers file by hand (docs/survey.md)")

    def ask(prompt: str, default: str | None) -> str:
        try:
            return click.prompt(prompt, default=default, show_default=default is not None)
        except click.exceptions.Abort:
            raise SurveyInputEnded() from None

    try:
        answers = run_survey(answers_path, ask, click.echo, respondent=respondent, role=role,
                             edit=edit)
    except SurveyInputEnded:
        click.echo("", err=True)  # end the unanswered prompt's line
        saved = answers_path.exists()
        raise UsageError(
            "input ended before the survey was finished (stdin closed, or interrupted); "
            + (f"the answers so far are saved in {answers_path}: run `mlaudit survey --answers "
               f"{answers_path}` again to resume" if saved else "nothing was saved")
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {answers_path}: {exc}") from None
    total = len(load_questions())
    click.echo("")
    click.echo(f"Saved {len(answers.answers)} of {total} answers to {answers_path}"
               + (f" (unanswered: {', '.join(answers.missing())})" if answers.missing() else "")
               + ".")
    click.echo(f"Next: mlaudit scan --survey {answers_path}")


@cli.command("plugins")
def list_plugins() -> None:
    """List the installed plugins (entry points `mlaudit.collectors`, `mlaudit.checks`,
    `mlaudit.frameworks`), what each adds and whether it loads. `MLAUDIT_PLUGINS=off` turns
    them all off; a comma-separated list of names loads only those."""
    from mlaudit.plugins import ENV, load_framework_plugins, load_plugins, refresh, selection

    refresh()  # what is installed now, never the kept index
    found = load_plugins() + load_framework_plugins()[0]
    groups = "entry point groups mlaudit.collectors, mlaudit.checks, mlaudit.frameworks"
    if selection() == "off":
        click.echo(f"Plugins are off ({ENV}=off): no entry point is loaded ({groups}).")
    elif not found:
        click.echo(f"No plugins installed ({groups}"
                   + (f"; {ENV} allows only {selection()}" if selection() != "all" else "") + ").")
    for p in found:
        click.echo(f"{p.group}: {p.name} = {p.value} ({p.distribution or 'unknown package'}): {p.describe()}")


@cli.command("frameworks")
def list_frameworks() -> None:
    """List the frameworks a scan can report against (`scan --framework ID`, config
    `frameworks:`): the shipped ones and the plugins', each with its file."""
    from mlaudit.checks.frameworks import shipped, shipped_files
    from mlaudit.plugins import load_framework_plugins

    plugins = load_framework_plugins()[1]
    for fw in [shipped(i) for i in shipped_files()] + list(plugins.values()):
        kind = f"{len(fw.groups)} levels" if fw.leveled else f"{len(fw.groups)} sections"
        click.echo(f"{fw.id:<18} {fw.title} ({kind}, {len(fw.criteria())} criteria; {fw.origin})")
        click.echo(f"{'':<18} source: {fw.source}")
        click.echo(f"{'':<18} file: {fw.file}")
    click.echo("Or give the path of your own framework file (docs/frameworks.md).")


@cli.command("checks")
@click.option("--json", "as_json", is_flag=True, help="Print the definitions as JSON.")
@click.option("--level", type=click.IntRange(1, 5), help="Only checks of this level.")
def list_checks(as_json: bool, level: int | None) -> None:
    """List the rubric's checks, then the plugins' (an unscored one shows `--`)."""
    from mlaudit.checks import load_definitions
    from mlaudit.plugins import load_plugins

    load_plugins()
    defs = [d for d in load_definitions() if level is None or d.level == level]
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in defs], indent=2))
        return
    for d in defs:
        where = f"L{d.level} {d.dimension:<15}" if d.scored else f"-- {'unscored':<15}"
        click.echo(f"{d.id:<36} {where} [{','.join(d.collectors)}] {d.title}")


@cli.command()
@click.argument("check_id")
def explain(check_id: str) -> None:
    """Print a check's criterion, sources, framework passage and remediation."""
    from mlaudit.checks import load_definitions
    from mlaudit.checks.base import LEVEL_NAMES
    from mlaudit.plugins import load_plugins
    from mlaudit.sources import label_of

    load_plugins()
    defs = {d.id: d for d in load_definitions()}
    d = defs.get(check_id)
    if d is None:
        import difflib

        close = difflib.get_close_matches(check_id, defs, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See `mlaudit checks`."
        raise UsageError(f"unknown check '{check_id}'.{hint}")
    click.echo(f"{d.id} — {d.title}")
    click.echo(f"Level {d.level} ({LEVEL_NAMES[d.level]}), {d.dimension} dimension" if d.scored
               else f"Unscored ({d.origin}): reported under Other checks, never moves a level")
    click.echo(f"\nPasses when: {d.criterion}")
    click.echo("\nEvidence from: " + "; ".join(label_of(c) for c in d.collectors))
    if d.survey:
        click.echo("Survey questions: " + ", ".join(d.survey))
    click.echo(f"\nRemediation: {d.remediation}")
    if d.framework:
        click.echo(f"\nFramework: “{d.framework}”")
    if d.anchors:
        click.echo("Anchors: " + ", ".join(d.anchors))


@cli.command()
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("mlaudit-demo"), show_default=True,
              help="Folder for the sandbox and the report (a previous demo there is replaced).")
@click.option("--keep", is_flag=True,
              help="Keep the sandbox organisation (OUT/org: git repos, mlflow.db, GX project, "
                   "survey) to explore or re-scan; by default only OUT/report is left.")
@FRAMEWORK_OPTION
@click.option("--pdf", "pdf", is_flag=True, help="Also write report.pdf (as `scan --pdf`).")
@click.option("--print-evidence", is_flag=True, help="Print (and the PDF) keep each finding's evidence list.")
@click.pass_context
def demo(ctx: click.Context, out: Path, keep: bool, frameworks: tuple[str, ...] = (),
         pdf: bool = False, print_evidence: bool = False) -> None:
    """Build a small sandbox ML organisation on local disk and audit it end to end.

    Three git repositories with history, an sqlite MLflow store, a Great Expectations project,
    survey answers and an in-process AWS estate (moto); no network is used. Writes report.html,
    report.json and report.md into OUT/report. Exit codes as for `scan`.
    """
    from mlaudit.config import Config
    from mlaudit.demo import MLFLOW_UI, run_demo
    from mlaudit.plugins import load_plugins

    load_plugins()
    asked = Config()
    add_frameworks(asked, frameworks)  # an unknown name stops here, before anything is built
    quiet = ctx.obj["quiet"]
    progress = sys.stderr.isatty() and not quiet

    def say(step: str) -> None:
        if progress:
            click.echo(f"mlaudit demo: {step}…", err=True)

    started = time.perf_counter()
    try:
        result = run_demo(out, keep=keep, progress=say, frameworks=asked.frameworks,
                          print_evidence=print_evidence)
    except OSError as exc:
        raise UsageError(f"cannot build the demo in {out}: {exc}") from None
    pdf_problem = _write_pdf(result.written) if pdf else None
    for note in result.notes:
        click.echo(f"mlaudit demo: {note}", err=True)
    if not quiet:
        click.echo(summary_text(result.report, result.written))
        click.echo(f"\nDemo built and audited in {time.perf_counter() - started:.1f} s. "
                   f"Open the report: {result.written.get('html', result.report_dir)}")
        if result.kept is not None:
            click.echo(f"Sandbox kept in {result.kept}; re-scan it with "
                       f"`mlaudit scan {result.kept / 'repos'} --survey {result.kept / 'survey.yaml'}`, "
                       f"and follow the MLflow links after `mlflow ui --backend-store-uri "
                       f"sqlite:///{result.kept / 'mlflow.db'}` ({MLFLOW_UI}).")
    ctx.exit(3 if pdf_problem and result.exit_code == 0 else result.exit_code)


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as for Ctrl-C, exit 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


# -- fleet (issue 16): shards and their merge ----------------------------------------------------
def _scan_shard(config: Any, shard: str, out: Path, quiet: bool) -> int:
    from mlaudit.collectors.discovery.collector import parse_shard
    from mlaudit.fleet import run_shard

    if config.source is None:
        raise UsageError("--shard needs --config (every shard and the merge must read the same config)")
    try:
        k_n = parse_shard(shard)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    path, part = run_shard(config, k_n, out)
    for e in part.errors:
        _error(f"git: {e['target']}: {e['message']}")
    if not quiet:
        _echo(f"mlaudit: shard {k_n[0]}/{k_n[1]}: {len(part.repos)} of {len(part.order)} repositories "
              f"audited, {len(part.errors)} error(s); partial run written to {path}", err=True)
    return 0  # the errors travel in the part: the merged report names them and exits 3


@cli.command()
@click.argument("parts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path),
              help="The config the shards ran with (default: $MLAUDIT_CONFIG); its other sources run here, once.")
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Folder for the reports [default: the config's output].")
@click.option("--format", "formats", multiple=True, type=click.Choice(["json", "html", "md"]),
              help="Report formats to write (repeatable) [default: all].")
@click.option("--json", "as_json", is_flag=True, help="Also print report.json to stdout.")
@FRAMEWORK_OPTION
@click.pass_context
def merge(ctx: click.Context, parts: tuple[Path, ...], config_path: Path | None, out: Path | None,
          formats: tuple[str, ...], as_json: bool, frameworks: tuple[str, ...] = ()) -> None:
    """Combine the partial runs of `mlaudit scan --shard K/N` (files or folders) into the report.

    Every shard 0..N-1 must be there. The config's non-git sources (MLflow, AWS, GX, survey) are
    audited here, once. Exit codes as for `scan`.
    """
    from mlaudit.config import load_config
    from mlaudit.fleet import merge as merge_parts
    from mlaudit.plugins import load_plugins

    load_plugins()  # the shards' plugin sources and checks, as scan has them
    config_path = config_path or (Path(os.environ["MLAUDIT_CONFIG"]) if os.environ.get("MLAUDIT_CONFIG") else None)
    if config_path is None:
        raise UsageError("merge needs --config (the config the shards ran with)")
    config = load_config(config_path)
    add_frameworks(config, frameworks)
    if out is not None:
        config.output = out
    if formats:
        config.formats = tuple(dict.fromkeys(formats))
    from mlaudit.history_cli import before_write, open_history

    history_store = open_history(config)  # the merged run goes into the config's history, if any
    result = merge_parts(config, list(parts))
    recording = before_write(result, config, history_store)  # every evidence item kept, as scan does
    _report_and_exit(ctx, config, result, as_json, ctx.obj["quiet"], recording)


@cli.command()
@click.option("--broker", required=True, metavar="URL", help="redis://… or amqp://… (as given to scan --dispatch).")
@click.option("--result-backend", help="Where results go [default: the Redis broker, else rpc://].")
@click.option("--queue", default="mlaudit", show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Shards at a time in this worker (run more workers for more processes).")
@click.option("--name", help="The worker's node name [default: mlaudit-PID@HOST].")
@click.option("--visibility-timeout", type=click.FloatRange(1), default=3600.0, show_default=True,
              help="Redis: seconds before a task whose worker vanished is delivered again.")
def worker(broker: str, result_backend: str | None, queue: str, concurrency: int, name: str | None,
           visibility_timeout: float) -> None:
    """Run a Celery worker that audits the shards `mlaudit scan --dispatch` enqueues."""
    from mlaudit.fleet_celery import run_worker

    run_worker(broker, result_backend, queue, concurrency, name, visibility_timeout)


def main(argv: list[str] | None = None) -> None:
    import signal
    import threading

    # What already ran before this call (a test runner's threads and servers when main() is
    # called in-process) is not ours to wait for or to stop.
    before = (set(threading.enumerate()), _child_pids())
    run_tmp = _make_run_tmp()
    if threading_is_main():
        signal.signal(signal.SIGTERM, _on_sigterm)
    code = 0
    try:
        result = cli.main(args=argv, prog_name="mlaudit", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort as exc:  # click turns Ctrl-C (and SIGTERM) into Abort
        if isinstance(exc.__context__, Terminated):
            _error("interrupted (SIGTERM); the previous report is kept")
            code = 143
        elif isinstance(exc.__context__, KeyboardInterrupt):
            _error("interrupted; the previous report is kept")
            code = 130
        else:
            _error("aborted")
            code = 130
    except click.ClickException as exc:
        try:
            exc.show()
        except OSError:
            pass
        code = 2
    except ConfigError as exc:
        _error(f"config error: {exc}")
        code = exc.exit_code
    except MlauditError as exc:
        _error(f"error: {exc}")
        code = exc.exit_code
    except Terminated:
        _error("interrupted (SIGTERM); the previous report is kept")
        code = 143
    except KeyboardInterrupt:
        _error("interrupted; the previous report is kept")
        code = 130
    _exit(code, before, run_tmp)


def run() -> None:
    """The `mlaudit` console script: `main()`, then the process ends without tearing the
    interpreter down. By then the reports are written and closed, and the streams are flushed. The
    exit handlers still run (multiprocessing's, logging's), but the teardown of every module and
    object is skipped: on a real 30-repository organisation that took 0.11-0.14 s of a 2.2 s run,
    time in which nothing is left to do. Where a thread of the command's own is still running, it
    ends as `main()` does. `main()` itself, which a program can call in-process, still raises
    SystemExit."""
    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):  # sys.exit("message"): printed, status 1, as Python does
        _error(code)
        code = 1
    code = 0 if code is None else int(code)
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _make_run_tmp() -> str | None:
    """The run's own temporary folder (named in the environment, so worker processes use it
    too); removed by `_exit` whichever way the run ends."""
    import tempfile

    from mlaudit.collectors.base import RUN_TMP_ENV

    try:
        path = tempfile.mkdtemp(prefix="mlaudit-run-")
    except OSError:
        return None  # no temporary space: collectors fall back to the system's
    os.environ[RUN_TMP_ENV] = path
    return path


def _drop_run_tmp(path: str | None) -> None:
    import shutil

    from mlaudit.collectors.base import RUN_TMP_ENV

    if path is None:
        return
    shutil.rmtree(path, ignore_errors=True)
    if os.environ.get(RUN_TMP_ENV) == path:
        del os.environ[RUN_TMP_ENV]


def _exit(code: int, before: tuple[set, set[int]] = (set(), set()), run_tmp: str | None = None) -> None:
    """Exit with `code`. Threads or worker processes a timed-out or interrupted collector left
    running must not keep the process alive: they are stopped, and the process ends at once.
    Threads and child processes in `before` existed when the command started and are left be."""
    import threading

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout:
                _silence_stdout()
    threads_before, children_before = before
    lingering = [t for t in threading.enumerate()
                 if t is not threading.main_thread() and t.is_alive() and t not in threads_before]
    if lingering:
        _kill_children(exclude=children_before)
        _drop_run_tmp(run_tmp)
        log.debug("ending with %d thread(s) still running: %s", len(lingering),
                  ", ".join(t.name for t in lingering))
        os._exit(code)
    _drop_run_tmp(run_tmp)
    sys.exit(code)


def _child_pids() -> set[int]:
    pids: set[int] = set()
    try:
        for task in Path("/proc/self/task").iterdir():
            pids.update(int(p) for p in (task / "children").read_text().split())
    except (OSError, ValueError):
        import multiprocessing

        pids.update(c.pid for c in multiprocessing.active_children() if c.pid)
    return pids


def _kill_children(exclude: set[int] = frozenset()) -> None:
    """Stop the child processes this command started (git, worker processes) before a hard
    exit; those in `exclude` were there before it began."""
    import signal

    for pid in _child_pids() - set(exclude):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _register_history() -> None:
    from mlaudit.history_cli import register

    register(cli)


_register_history()

if __name__ == "__main__":
    run()
