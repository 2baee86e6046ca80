"""Run history (issue 15): real scans of real git repositories kept in a history, compared,
re-scored, killed mid-write, run concurrently and backfilled from dated commits."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitutil import commit_files, git, make_repo

PY = sys.executable

ML_CODE = ("import sklearn\nfrom sklearn.linear_model import LogisticRegression\n\n"
           "def train(x, y):\n    model = LogisticRegression()\n    model.fit(x, y)\n    return model\n")
TESTS = "from churn.train import train\n\ndef test_train():\n    assert train([[0], [1]], [0, 1])\n"
CI = ("on: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
      "      - uses: actions/checkout@v4\n      - run: pip install -r requirements.txt\n      - run: pytest\n")


def mlaudit(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLAUDIT_CONFIG", "MLAUDIT_HISTORY")}
    return subprocess.run([PY, "-m", "mlaudit.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def build_org(root: Path) -> Path:
    make_repo(root / "churn", {"churn/train.py": ML_CODE, "requirements.txt": "scikit-learn==1.4.0\n",
                               "tests/test_train.py": TESTS}, days_ago=30)
    make_repo(root / "pricing", {"pricing/model.py": ML_CODE.replace("train", "fit_price"),
                                 "requirements.txt": "scikit-learn==1.4.0\n"}, days_ago=20)
    return root


def report_of(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


@pytest.fixture(scope="module")
def two_scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two scans of one organisation into one history, a CI workflow added to one repository
    in between."""
    tmp = tmp_path_factory.mktemp("history")
    org = build_org(tmp / "org")
    hist = tmp / "hist"
    first = mlaudit("scan", str(org), "--history", str(hist), "-o", str(tmp / "r1"))
    assert first.returncode == 0, first.stderr
    commit_files(org / "churn", {".github/workflows/ci.yml": CI}, message="CI", days_ago=0.1)
    second = mlaudit("scan", str(org), "--history", str(hist), "-o", str(tmp / "r2"))
    assert second.returncode == 0, second.stderr
    return {"org": org, "hist": hist, "r1": tmp / "r1", "r2": tmp / "r2", "tmp": tmp}


def test_since_last_review_names_exactly_the_change(two_scans: dict[str, Path]) -> None:
    r1, r2 = report_of(two_scans["r1"]), report_of(two_scans["r2"])
    assert "history" not in r1 or r1["history"]["since_last_review"] is None
    since = r2["history"]["since_last_review"]
    assert [c["check_id"] for c in since["checks"]["improved"]] == ["L3.ci-tests"]
    assert since["checks"]["improved"][0]["from"] == "fail" and since["checks"]["improved"][0]["to"] == "partial"
    assert not since["checks"]["regressed"] and not since["checks"]["new_unknown"]
    # new evidence: the workflow in churn, nothing else (unchanged files are not churn)
    assert [e["subject"] for e in since["evidence"]] == ["churn"]
    assert since["evidence"][0]["lost"] == []
    assert all(".github/workflows/ci.yml" in k for k in since["evidence"][0]["new"]), since["evidence"]
    assert since["evidence_compared"] == "all"
    # its effect on the levels is what the two reports' summaries say
    for dim, change in since["dimensions"].items():
        before, after = r1["summary"]["dimensions"][dim], r2["summary"]["dimensions"][dim]
        assert change["from"] == (before["level"] if before["assessed"] else None)
        assert change["to"] == (after["level"] if after["assessed"] else None)
    assert since["overall"]["to"] == r2["summary"]["overall"]["level"]
    # the trend: both runs, the current one last
    trend = r2["history"]["trend"]
    assert len(trend) == 2 and trend[-1]["current"] and trend[-1]["run_id"] == r2["history"]["run_id"]
    # HTML and Markdown carry the same
    html = (two_scans["r2"] / "report.html").read_text()
    assert "Since last review" in html and "L3.ci-tests" in html and 'id="trend"' in html
    assert "<svg" in html.split('id="trend"')[1].split("</section>")[0]
    md = (two_scans["r2"] / "report.md").read_text()
    assert "Since last review" in md and "L3.ci-tests" in md


def test_diff_prints_the_same_and_gates_regressions(two_scans: dict[str, Path]) -> None:
    hist = str(two_scans["hist"])
    out = mlaudit("diff", "previous", "latest", "--history", hist, "--format", "json")
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    stored = report_of(two_scans["r2"])["history"]["since_last_review"]
    assert printed["checks"] == stored["checks"] and printed["evidence"] == stored["evidence"]
    text = mlaudit("diff", "previous", "latest", "--history", hist, "--fail-on-regression", "check")
    assert text.returncode == 0 and "L3.ci-tests: fail → partial" in text.stdout
    md = mlaudit("diff", str(two_scans["r1"]), str(two_scans["r2"]), "--format", "md")
    assert md.returncode == 0 and md.stdout.startswith("# Since last review") and "L3.ci-tests" in md.stdout
    # backwards, the same change is a regression: the gate turns it into exit 1
    back = mlaudit("diff", "latest", "previous", "--history", hist, "--fail-on-regression", "check")
    assert back.returncode == 1 and "L3.ci-tests: partial → fail" in back.stdout
    assert "regression (check)" in back.stderr
    assert mlaudit("diff", "latest", "previous", "--history", hist).returncode == 0


def test_two_runs_in_one_second_keep_their_order(two_scans: dict[str, Path], tmp_path: Path) -> None:
    """`generated_at` counts whole seconds and run ids end in random hex: the order of two runs
    stored within one second is the order they were recorded in, whatever their ids."""
    from mlaudit.history import open_store

    source = open_store(two_scans["hist"])
    first = source.runs()[0]
    report, bundle = source.report(first), source.bundle(first)
    store = open_store(tmp_path / "hist")
    ids = [store.save_run(report, bundle, run_id=f"{first.run_id[:16]}-{suffix}")
           for suffix in ("ffffffff", "00000000", "80000000")]
    assert [r.run_id for r in store.runs()] == ids


def test_history_store_layout_and_manifest(two_scans: dict[str, Path]) -> None:
    runs = sorted((two_scans["hist"] / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert sorted(p.name for p in run.iterdir()) == ["evidence.json.gz", "manifest.json", "report.json.gz"]
        mask = os.umask(0o022)
        os.umask(mask)
        assert all(p.stat().st_mode & 0o777 == 0o666 & ~mask for p in run.iterdir())
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["tool_version"] and manifest["rubric_version"].startswith("sha256:")
        assert manifest["config_fingerprint"].startswith("sha256:")
        assert manifest["run_id"] == run.name and manifest["backfilled"] is False
    listing = mlaudit("history", "list", "--history", str(two_scans["hist"]))
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 2


def test_evidence_file_holds_every_item_with_a_schema(two_scans: dict[str, Path]) -> None:
    import jsonschema

    from mlaudit.history import evidence_schema

    report = report_of(two_scans["r2"])
    bundle = json.loads(gzip.decompress((two_scans["r2"] / "evidence.json.gz").read_bytes()))
    jsonschema.validate(bundle, evidence_schema())
    items = [e for s in bundle["sources"] for e in s["evidence"]]
    assert report["evidence_file"]["items"] == len(items)
    # more than the report keeps: the report holds only what findings cite
    assert {e["id"] for e in report["evidence"]} < {e["id"] for e in items}
    assert sum(c["evidence_count"] for c in report["collectors"]) == len(items)


def test_rescore_with_the_same_rubric_is_byte_identical(two_scans: dict[str, Path]) -> None:
    out = mlaudit("rescore", str(two_scans["r2"]), "--out", str(two_scans["tmp"] / "rescored"))
    assert out.returncode == 0, out.stderr
    assert "Findings identical to the stored run (byte for byte)" in out.stdout
    a = report_of(two_scans["r2"])["findings"]
    b = report_of(two_scans["tmp"] / "rescored")["findings"]
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    stored = mlaudit("rescore", "latest", "--history", str(two_scans["hist"]), "--json")
    assert json.loads(stored.stdout)["findings_identical"] is True


def test_rescore_with_an_edited_rubric_explains_each_change(two_scans: dict[str, Path], tmp_path: Path) -> None:
    from mlaudit.checks.definitions import RUBRIC_PATH

    text = Path(RUBRIC_PATH).read_text()
    # the CI-tests check is now assessable from MLflow alone (a rubric edit, not a code change)
    head, rest = text.split("- id: L3.ci-tests\n", 1)
    rest = rest.replace("  collectors: [G]\n  decides: [G]\n", "  collectors: [M]\n  decides: [M]\n", 1)
    edited = head + "- id: L3.ci-tests\n" + rest
    assert edited != text
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(edited)
    code = ("import sys, mlaudit.checks.definitions as d\n"
            f"d.RUBRIC_PATH = {str(rubric)!r}\n"
            "from mlaudit.cli import main\nmain(sys.argv[1:])\n")
    out = subprocess.run([PY, "-c", code, "rescore", str(two_scans["r2"])], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(stored run: sha256:" in out.stdout
    assert "Findings identical" not in out.stdout
    # the one check whose definition changed moved, and says why
    assert "Newly unknown (no longer assessed) (1):" in out.stdout
    assert "L3.ci-tests: partial → unknown: Not assessed: nothing that could assess it ran (it needs MLflow" in out.stdout
    assert "improved" not in out.stdout.lower() and "Regressed" not in out.stdout


def test_retention_keeps_the_newest_runs(tmp_path: Path) -> None:
    org = build_org(tmp_path / "org")
    hist = tmp_path / "hist"
    for i in range(3):
        assert mlaudit("-q", "scan", str(org), "--history", str(hist), "--history-keep", "2",
                       "-o", str(tmp_path / f"r{i}")).returncode == 0
    kept = sorted(p.name for p in (hist / "runs").iterdir())
    assert len(kept) == 2
    ids = [report_of(tmp_path / f"r{i}")["history"]["run_id"] for i in range(3)]
    assert kept == sorted(ids[1:])
    # the config key does the same
    cfg = tmp_path / "mlaudit.yaml"
    cfg.write_text(f"output: {tmp_path / 'rc'}\nhistory:\n  location: hist\n  keep: 1\ngit:\n  targets: [org]\n")
    assert mlaudit("-q", "scan", "--config", str(cfg)).returncode == 0
    assert len(list((hist / "runs").iterdir())) == 1


def test_concurrent_scans_into_one_history_both_stored(tmp_path: Path) -> None:
    org = build_org(tmp_path / "org")
    hist = tmp_path / "hist"
    procs = [subprocess.Popen([PY, "-m", "mlaudit.cli", "-q", "scan", str(org), "--history", str(hist),
                               "-o", str(tmp_path / f"r{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    results = [(p.wait(timeout=180), p.stderr.read() if p.stderr else "") for p in procs]
    assert [r[0] for r in results] == [0, 0], results
    from mlaudit.history import open_store

    store = open_store(hist)
    runs = store.runs()
    assert len(runs) == 2
    for run in runs:
        assert store.report(run)["summary"] and store.bundle(run)["sources"]


def test_sigkill_while_writing_history_keeps_previous_runs_readable(tmp_path: Path) -> None:
    org = build_org(tmp_path / "org")
    hist = tmp_path / "hist"
    for _ in range(2):
        assert mlaudit("-q", "scan", str(org), "--history", str(hist), "-o", str(tmp_path / "r")).returncode == 0
    from mlaudit.history import open_store

    before = {r.run_id for r in open_store(hist).runs()}
    # a writer that stores runs with a large evidence file, killed at random moments
    writer = (
        "import json, sys, gzip, os\nfrom mlaudit.history import open_store, read_gz_json\n"
        "store = open_store(sys.argv[1]); run = store.runs()[-1]\n"
        "report, bundle = store.report(run), store.bundle(run)\n"
        "bundle['sources'][0]['warnings'] = [os.urandom(64).hex() for _ in range(200000)]\n"
        "print('ready', flush=True)\n"
        "while True:\n    store.save_run(report, bundle)\n"
    )
    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    for _ in range(6):
        proc = subprocess.Popen([PY, "-c", writer, str(hist)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rnd.uniform(0.0, 1.5))
        proc.kill()
        proc.wait()
        store = open_store(hist)
        runs = store.runs()
        assert before <= {r.run_id for r in runs}, seed
        for run in runs:  # every listed run reads back whole
            assert store.report(run)["findings"] and store.bundle(run)["sources"], seed
    # a real scan still adds to it afterwards, and sweeps what killed runs left over an hour ago
    stale = hist / "runs" / "20000101T000000Z-00000000"
    stale.mkdir()
    (stale / "report.json.gz").write_bytes(b"half")
    (stale / ".manifest.json.x.tmp").write_bytes(b"half")
    os.utime(stale / ".manifest.json.x.tmp", (0, 0))
    out = mlaudit("scan", str(org), "--history", str(hist), "-o", str(tmp_path / "after"))
    assert out.returncode == 0, out.stderr
    assert report_of(tmp_path / "after")["history"]["since_last_review"] is not None
    assert not stale.exists()
    assert before <= {r.run_id for r in open_store(hist).runs()}


def test_sigkill_of_real_scans_writing_history(tmp_path: Path) -> None:
    org = build_org(tmp_path / "org")
    hist = tmp_path / "hist"
    started = time.monotonic()
    assert mlaudit("-q", "scan", str(org), "--history", str(hist), "-o", str(tmp_path / "r")).returncode == 0
    duration = time.monotonic() - started
    from mlaudit.history import open_store

    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    complete = {r.run_id for r in open_store(hist).runs()}
    for _ in range(5):
        proc = subprocess.Popen([PY, "-m", "mlaudit.cli", "-q", "scan", str(org), "--history", str(hist),
                                 "-o", str(tmp_path / "r")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * rnd.uniform(0.6, 1.1))  # most kills late, where history is written
        proc.kill()
        proc.wait()
        store = open_store(hist)
        runs = {r.run_id for r in store.runs()}
        assert complete <= runs, seed
        for run in store.runs():
            assert store.report(run)["findings"] and store.bundle(run)["sources"], seed
        complete = runs


def test_bad_history_input_is_one_line(tmp_path: Path) -> None:
    org = build_org(tmp_path / "org")
    afile = tmp_path / "file"
    afile.write_text("x")
    out = mlaudit("scan", str(org), "--history", str(afile), "-o", str(tmp_path / "r"))
    assert out.returncode == 2 and "not a folder" in out.stderr and "Traceback" not in out.stderr
    out = mlaudit("scan", str(org), "--history", "ftp://x/y", "-o", str(tmp_path / "r"))
    assert out.returncode == 2 and "unsupported location" in out.stderr
    out = mlaudit("scan", str(org), "--backfill", "2", "-o", str(tmp_path / "r"))
    assert out.returncode == 2 and "--backfill needs a history" in out.stderr
    hist = tmp_path / "hist"
    assert mlaudit("-q", "scan", str(org), "--history", str(hist), "-o", str(tmp_path / "r")).returncode == 0
    out = mlaudit("diff", "nosuchrun", "latest", "--history", str(hist))
    assert out.returncode == 2 and "no run in the history" in out.stderr and len(out.stderr.splitlines()) == 1
    out = mlaudit("diff", "latest", "latest")
    assert out.returncode == 2 and "--history" in out.stderr
    # a damaged object is named, never read as if whole
    run = next((hist / "runs").iterdir())
    (run / "evidence.json.gz").write_bytes(b"garbage")
    out = mlaudit("rescore", "latest", "--history", str(hist))
    assert out.returncode == 2 and "does not match its manifest" in out.stderr and "Traceback" not in out.stderr


def _dated_commit(repo: Path, files: dict[str, str], when: str, message: str) -> None:
    for rel, content in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content)
        git(repo, "add", "--", rel)
    env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    git(repo, "commit", "-q", "-m", message, env=env)


def test_backfill_gives_one_point_per_quarter_read_at_that_date(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from mlaudit.history import quarter_ends

    ends = quarter_ends(8, datetime.now(UTC).date())
    repo = tmp_path / "org" / "churn"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    # two years of dated history: ML code first, tests a year later, CI in the last two quarters
    _dated_commit(repo, {"churn/train.py": ML_CODE, "requirements.txt": "scikit-learn==1.4.0\n"},
                  f"{ends[0].isoformat()}T10:00:00+0000", "start")
    _dated_commit(repo, {"tests/test_train.py": TESTS}, f"{ends[3].isoformat()}T10:00:00+0000", "tests")
    _dated_commit(repo, {".github/workflows/ci.yml": CI}, f"{ends[6].isoformat()}T10:00:00+0000", "ci")
    hist = tmp_path / "hist"
    out = mlaudit("scan", str(tmp_path / "org"), "--history", str(hist), "--backfill", "8",
                  "-o", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    from mlaudit.history import open_store

    store = open_store(hist)
    runs = store.runs()
    assert [r.manifest["as_of"] for r in runs[:-1]] == [e.isoformat() for e in ends]
    assert all(r.manifest["backfilled"] for r in runs[:-1]) and not runs[-1].manifest["backfilled"]
    ci = {r.manifest["as_of"]: next(f["outcome"] for f in store.report(r)["findings"] if f["check_id"] == "L3.ci-tests")
          for r in runs[:-1]}
    assert [ci[e.isoformat()] for e in ends] == ["fail"] * 6 + ["pass"] * 2
    # each point read git at the last commit on or before its date
    for r in runs[:-1]:
        commit = next(t["commit"] for c in store.report(r)["collectors"] if c["name"] == "git" for t in c["targets"])
        expected = git(repo, "rev-list", "-1", f"--before={r.manifest['as_of']}T23:59:59+0000", "main").strip()
        assert commit == expected
    # the report's trend has the eight quarters and the scan
    trend = report_of(tmp_path / "r")["history"]["trend"]
    assert len(trend) == 8 and trend[-1]["current"]
    # a second backfill adds nothing already there
    again = mlaudit("history", "backfill", str(tmp_path / "org"), "--history", str(hist), "--quarters", "8")
    assert again.returncode == 0 and again.stdout.count("already in the history") == 8


def test_each_backfilled_point_is_the_scan_as_of_its_date(tmp_path: Path) -> None:
    """Backfill and `scan --as-of` are one path: a stored quarter holds the findings and levels
    the as-of scan of that date gives (the survey, answered today, not read in either)."""
    from datetime import UTC, datetime

    from mlaudit.history import open_store, quarter_ends

    root = Path(__file__).resolve().parent.parent
    ends = quarter_ends(3, datetime.now(UTC).date())
    repo = tmp_path / "org" / "churn"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    _dated_commit(repo, {"churn/train.py": ML_CODE, "requirements.txt": "scikit-learn==1.4.0\n"},
                  f"{ends[0].isoformat()}T10:00:00+0000", "start")
    _dated_commit(repo, {"tests/test_train.py": TESTS, ".github/workflows/ci.yml": CI},
                  f"{ends[1].isoformat()}T10:00:00+0000", "tests and CI")
    survey = root / "examples" / "survey-answers.yaml"
    hist = tmp_path / "hist"
    out = mlaudit("scan", str(tmp_path / "org"), "--survey", str(survey), "--history", str(hist),
                  "--backfill", "3", "-o", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "cannot be compared" not in out.stderr  # a point with unread sources is a valid run
    assert report_of(tmp_path / "r")["history"]["since_last_review"] is not None
    store = open_store(hist)
    for run in store.runs()[:-1]:
        stored = store.report(run)
        day = run.manifest["as_of"]
        scan = mlaudit("scan", str(tmp_path / "org"), "--survey", str(survey), "--as-of", day,
                       "-o", str(tmp_path / f"as-of-{day}"))
        assert scan.returncode == 0, scan.stderr
        fresh = report_of(tmp_path / f"as-of-{day}")
        assert {f["check_id"]: f["outcome"] for f in stored["findings"]} == \
            {f["check_id"]: f["outcome"] for f in fresh["findings"]}, day
        assert stored["summary"]["overall"] == fresh["summary"]["overall"]
        assert {k: v["level"] for k, v in stored["summary"]["dimensions"].items()} == \
            {k: v["level"] for k, v in fresh["summary"]["dimensions"].items()}
        assert {c["name"]: c["status"] for c in stored["collectors"]} == \
            {c["name"]: c["status"] for c in fresh["collectors"]}


def test_backfilled_points_mark_live_sources_unknown(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    org = tmp_path / "org"  # repositories older than the quarters backfilled: git reads them all
    make_repo(org / "churn", {"churn/train.py": ML_CODE, "requirements.txt": "scikit-learn==1.4.0\n",
                              "tests/test_train.py": TESTS}, days_ago=400)
    hist = tmp_path / "hist"
    out = mlaudit("scan", str(org), "--survey", str(root / "examples" / "survey-answers.yaml"),
                  "--history", str(hist), "--backfill", "2", "-o", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    from mlaudit.history import open_store

    store = open_store(hist)
    past, now = store.runs()[:-1], store.runs()[-1]
    assert len(past) == 2 and all(r.manifest["unread_sources"] == ["survey"] for r in past)
    assert now.manifest["unread_sources"] == []
    survey = next(c for c in store.report(past[0])["collectors"] if c["name"] == "survey")
    # the answers (dated today) say nothing of a past quarter: not read, as `scan --as-of` does
    assert survey["status"] == "not_read"
    assert survey["errors"][0]["message"].startswith("as-of audit: the survey was answered on ")
    # the survey-only checks are unknown in the past, assessed now
    s_only = {f["check_id"] for f in store.report(now)["findings"] if f["outcome"] != "unknown"
              and all(e.startswith("ev-") for e in f["evidence"]) and f["provenance"] == "self-reported"}
    assert s_only
    for check in s_only:
        assert next(f["outcome"] for f in store.report(past[0])["findings"] if f["check_id"] == check) == "unknown"
    html = (tmp_path / "r" / "report.html").read_text()
    trend = html.split('id="trend"')[1].split("</section>")[0]
    assert trend.count('fill="url(#tr-unread)"') == 2 and "†" in trend
    assert "not readable then: survey" in trend
    md = (tmp_path / "r" / "report.md").read_text()
    assert "† Sources not readable at that date" in md


def _levels(summary: dict) -> dict:
    return {k: (v["level"] if v["assessed"] else None) for k, v in summary["dimensions"].items()}


def test_teams_matrix_scoped_runs_and_codeowners(tmp_path: Path) -> None:
    org = build_org(tmp_path / "org")
    commit_files(org / "churn", {".github/workflows/ci.yml": CI, "CODEOWNERS": "* @acme/ml-platform\n"}, days_ago=2)
    make_repo(org / "notebooks", {"explore.ipynb": json.dumps({"cells": [{"cell_type": "code", "source": ["import pandas\n"]}]})},
              days_ago=5)
    cfg = tmp_path / "mlaudit.yaml"
    cfg.write_text(f"output: {tmp_path / 'r'}\ngit:\n  targets: [org]\nteams:\n"
                   "  platform:\n    repositories: [churn, pricing]\n  research:\n    repositories: [notebooks]\n")
    out = mlaudit("scan", "--config", str(cfg), "--history", str(tmp_path / "hist"))
    assert out.returncode == 0, out.stderr
    teams = {t["name"]: t for t in report_of(tmp_path / "r")["teams"]}
    assert teams["platform"]["repositories"] == ["churn", "pricing"]
    assert teams["research"]["repositories"] == ["notebooks"]
    # a team's row is what an audit of its repositories alone gives
    only = tmp_path / "only.yaml"
    only.write_text(f"output: {tmp_path / 'only'}\ngit:\n  targets: [org/churn, org/pricing]\n")
    assert mlaudit("-q", "scan", "--config", str(only)).returncode == 0
    alone = report_of(tmp_path / "only")["summary"]
    assert teams["platform"]["dimensions"] == _levels(alone)
    assert teams["platform"]["level"] == alone["overall"]["level"]
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'id="teams"' in html and "platform" in html.split('id="teams"')[1].split("</section>")[0]
    assert "## Teams" in (tmp_path / "r" / "report.md").read_text()
    # --team scopes the whole run
    scoped = mlaudit("scan", "--config", str(cfg), "--team", "research", "-o", str(tmp_path / "s"))
    assert scoped.returncode == 0, scoped.stderr
    rep = report_of(tmp_path / "s")
    assert [r["name"] for r in rep["repositories"]] == ["notebooks"] and rep["run"]["team"] == "research"
    assert _levels(rep["summary"]) == teams["research"]["dimensions"]
    bad = mlaudit("scan", "--config", str(cfg), "--team", "nobody", "-o", str(tmp_path / "b"))
    assert bad.returncode == 2 and "no team named 'nobody' (teams: platform, research)" in bad.stderr
    # teams from CODEOWNERS
    co = mlaudit("scan", str(org), "--team", "@acme/ml-platform", "-o", str(tmp_path / "co"))
    assert co.returncode == 0, co.stderr
    rep = report_of(tmp_path / "co")
    assert [r["name"] for r in rep["repositories"]] == ["churn"]
    assert rep["teams"][0]["source"] == "codeowners"
    # a team's level change shows in the next run's diff
    commit_files(org / "notebooks", {"tests/test_x.py": "import pandas\n\ndef test_x():\n    assert pandas\n",
                                     ".github/workflows/ci.yml": CI}, days_ago=0.1)
    again = mlaudit("scan", "--config", str(cfg), "--history", str(tmp_path / "hist"))
    assert again.returncode == 0, again.stderr
    since = report_of(tmp_path / "r")["history"]["since_last_review"]
    assert {t["name"] for t in since["teams"]} == {"platform", "research"}
    assert next(t for t in since["teams"] if t["name"] == "platform")["dimensions"] == {}


def test_config_fingerprint_never_holds_or_depends_on_a_secret(tmp_path: Path) -> None:
    from mlaudit.config import parse_config
    from mlaudit.history import _plain, config_fingerprint

    def cfg(token: str, threshold: float = 0.7) -> object:
        return parse_config(f"threshold: {threshold}\nmlflow:\n  targets:\n"
                            f"    - uri: https://ml:{token}@mlflow.example.com\n", base_dir=tmp_path)

    a, b = cfg("s3cr3t-one-XYZ"), cfg("s3cr3t-two-XYZ")
    assert config_fingerprint(a) == config_fingerprint(b)
    assert config_fingerprint(cfg("s3cr3t-one-XYZ", 0.8)) != config_fingerprint(a)
    # what is hashed is the redacted config
    hashed = json.dumps(_plain(a))
    assert "mlflow.example.com" in hashed and "s3cr3t" not in hashed


def test_period_ends_line_up_with_the_calendar() -> None:
    from datetime import date

    from mlaudit.errors import UsageError
    from mlaudit.history import parse_period, period_ends

    assert [parse_period(p) for p in ("1m", "3m", "6M", "1y", "2y")] == [1, 3, 6, 12, 24]
    for bad in ("5m", "0m", "3w", "m", "", "1.5y"):
        with pytest.raises(UsageError, match="--every"):
            parse_period(bad)
    quarters = period_ends(3, date(2024, 2, 1), date(2025, 1, 15))
    assert quarters == [date(2024, 3, 31), date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31)]
    # a period end on either bound is in; month ends know February
    assert period_ends(1, date(2024, 1, 31), date(2024, 3, 31)) == [date(2024, 1, 31), date(2024, 2, 29),
                                                                    date(2024, 3, 31)]
    assert period_ends(6, date(2023, 1, 1), date(2024, 12, 30)) == [date(2023, 6, 30), date(2023, 12, 31),
                                                                    date(2024, 6, 30)]
    assert period_ends(12, date(2021, 6, 1), date(2024, 12, 31)) == [date(2021, 12, 31), date(2022, 12, 31),
                                                                     date(2023, 12, 31), date(2024, 12, 31)]
    assert period_ends(24, date(2019, 1, 1), date(2024, 7, 1)) == [date(2019, 12, 31), date(2021, 12, 31),
                                                                   date(2023, 12, 31)]
    assert period_ends(3, date(2024, 4, 1), date(2024, 6, 29)) == []
    # ten years of months is the limit; one more is a clear error, not a long night
    assert len(period_ends(1, date(2015, 1, 1), date(2024, 12, 31))) == 120
    with pytest.raises(UsageError, match="more than 120 points"):
        period_ends(1, date(2014, 12, 1), date(2024, 12, 31))
    with pytest.raises(UsageError, match="after"):
        period_ends(3, date(2025, 1, 1), date(2024, 1, 1))


def test_backfill_every_since_matches_scans_as_of_each_date(tmp_path: Path) -> None:
    """`history backfill --every 3m --since D --as-of E` over a repository with two years of
    dated commits: one point per quarter end in [D, E], each read at the last commit on or
    before its date, and `scan --as-of` of that date into a history gives the same levels and
    is stored with that date as its audit date."""
    from datetime import date

    from mlaudit.history import open_store

    repo = tmp_path / "org" / "churn"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    _dated_commit(repo, {"churn/train.py": ML_CODE, "requirements.txt": "scikit-learn==1.4.0\n"},
                  "2023-01-10T10:00:00+0000", "start")
    _dated_commit(repo, {"tests/test_train.py": TESTS}, "2023-11-20T10:00:00+0000", "tests")
    _dated_commit(repo, {".github/workflows/ci.yml": CI}, "2024-08-05T10:00:00+0000", "ci")
    hist = tmp_path / "hist"
    out = mlaudit("history", "backfill", str(tmp_path / "org"), "--history", str(hist),
                  "--every", "3m", "--since", "2023-01-01", "--as-of", "2024-12-31")
    assert out.returncode == 0, out.stderr
    ends = ["2023-03-31", "2023-06-30", "2023-09-30", "2023-12-31",
            "2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31"]
    assert [line.split(":")[0] for line in out.stdout.splitlines()] == ends
    store = open_store(hist)
    runs = store.runs()
    assert [r.manifest["as_of"] for r in runs] == ends
    ci = [next(f["outcome"] for f in store.report(r)["findings"] if f["check_id"] == "L3.ci-tests") for r in runs]
    assert ci == ["fail"] * 6 + ["pass"] * 2
    for r in runs:
        commit = next(t["commit"] for c in store.report(r)["collectors"] if c["name"] == "git" for t in c["targets"])
        assert commit == git(repo, "rev-list", "-1", f"--before={r.manifest['as_of']}T23:59:59+0000", "main").strip()
    # `scan --as-of D --history`: D is the run's date in the history (manifest, evidence file)
    hist2 = tmp_path / "hist2"
    for day in ("2023-09-30", "2024-09-30"):
        scan = mlaudit("scan", str(tmp_path / "org"), "--as-of", day, "--history", str(hist2),
                       "-o", str(tmp_path / f"r-{day}"))
        assert scan.returncode == 0, scan.stderr
        fresh = report_of(tmp_path / f"r-{day}")
        stored = store.report(next(r for r in runs if r.manifest["as_of"] == day))
        assert fresh["summary"]["overall"] == stored["summary"]["overall"]
        assert {k: v["level"] for k, v in fresh["summary"]["dimensions"].items()} == \
            {k: v["level"] for k, v in stored["summary"]["dimensions"].items()}
        assert fresh["history"]["trend"][-1]["date"] == day
    scanned = open_store(hist2).runs()
    assert [r.manifest["as_of"] for r in scanned] == ["2023-09-30", "2024-09-30"]
    assert [open_store(hist2).bundle(r)["audit_date"] for r in scanned] == ["2023-09-30", "2024-09-30"]
    listed = mlaudit("history", "list", "--history", str(hist2))
    assert [line.split()[1] for line in listed.stdout.splitlines()] == ["2023-09-30", "2024-09-30"]
    # a backfill over those dates finds them there (same config) and adds nothing
    again = mlaudit("history", "backfill", str(tmp_path / "org"), "--history", str(hist2),
                    "--every", "1y", "--since", "2023-01-01", "--as-of", date(2023, 12, 31).isoformat())
    assert again.returncode == 0 and again.stdout.startswith("2023-12-31: stored as ")


def test_backfill_every_bad_input_is_one_line(tmp_path: Path) -> None:
    org = build_org(tmp_path / "org")
    hist = str(tmp_path / "hist")
    cases = [
        (["--every", "1m", "--since", "1990-01-01", "--as-of", "2024-12-31"], "more than 120 points"),
        (["--every", "5m", "--since", "2024-01-01"], "months must divide a year"),
        (["--every", "3m"], "--every needs --since"),
        (["--every", "3m", "--since", "2024-13-01"], "--since wants a date"),
        (["--quarters", "4", "--every", "3m", "--since", "2024-01-01"], "either --quarters or --every"),
        (["--since", "2024-01-01"], "go with --every"),
        (["--every", "3m", "--since", "2024-01-01", "--as-of", "2999-01-01"], "backfill computes past points"),
        (["--every", "1y", "--since", "2024-02-01", "--as-of", "2024-11-30"], "no end of a 1y period"),
    ]
    for args, message in cases:
        out = mlaudit("history", "backfill", str(org), "--history", hist, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)
    assert not (tmp_path / "hist").exists()


def _plain_gz(data: object) -> bytes:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return gzip.compress(raw.encode("utf-8"), compresslevel=6, mtime=0)


def test_gzipped_json_is_streamed_and_byte_identical() -> None:
    """The evidence file (and a stored run) is gzipped JSON written a batch of pieces at a time:
    the same bytes as compressing json.dumps' whole text (so its sha256 in report.json is what it
    was), without ever holding that text or its UTF-8 bytes (a fraction of their size at peak)."""
    import math
    import tracemalloc

    from mlaudit.history import gz_json

    rng = random.Random(3)
    item = {"collector": "git", "signal": "ci_pipeline", "provenance": "observed", "excerpt": "run: pytest ✓",
            "attributes": {"tool": "github_actions", "runs_tests": True, "line": 3, "score": 0.25, "none": None}}
    bundle = {"format": "mlaudit-evidence/1", "settings": {"threshold": 0.7, "waivers": []}, "as_of": None,
              "sources": [{"name": f"s{s}", "targets": [{"name": f"r{i}", "n": i} for i in range(50)],
                           "evidence": [{**item, "id": f"ev-{s}-{i}", "locator": f"repo-{i}:x.py:{rng.randint(1, 99)}",
                                         "subject": f"repo-{i % 300}"} for i in range(20000)]}
                          for s in range(3)]}
    small = [{}, [], {"a": []}, {"b": 1, "a": {"x": [1, 2, {"é": "ü\u2028"}]}}, [None, True, 1.5, "x"] * 20,
             {f"k{i}": list(range(i)) for i in range(40)}, (1, 2), "s", 3, 1e300, -0.0]
    for value in [bundle, *small]:
        assert gz_json(value) == _plain_gz(value)
    for bad in (math.nan, {"a": [math.inf]}, {"x": object()}):
        with pytest.raises((ValueError, TypeError)):
            gz_json(bad)

    size = len(json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    tracemalloc.start()
    try:
        gz_json(bundle)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size / 3, (peak, size)  # json.dumps, then encode: twice the size


def test_evidence_items_are_let_go_once_in_the_evidence_file(tmp_path: Path) -> None:
    """Before the reports are rendered, every item is in the evidence file (and, with a history,
    stored from it): the run's items and the bundle's dicts of them are let go, so rendering a
    large estate's reports does not hold the evidence twice over. Nothing is lost: the file and
    the stored run hold every item."""
    from mlaudit.config import Config, GitSettings, GitTarget
    from mlaudit.engine import audit
    from mlaudit.history import open_store
    from mlaudit.history_cli import after_write, before_write

    org = build_org(tmp_path / "org")
    config = Config(git=GitSettings(targets=[GitTarget(path=org / "churn"), GitTarget(path=org / "pricing")]))
    result = audit(config)
    counted = sum(len(run.result.evidence) for run in result.runs)
    assert counted >= 10
    store = open_store(tmp_path / "hist")
    recording = before_write(result, config, store)
    assert all(run.result.evidence == [] for run in result.runs)
    assert "sources" not in recording.bundle and recording.bundle["rubric_version"]
    in_file = json.loads(gzip.decompress(recording.evidence_data))
    assert sum(len(s["evidence"]) for s in in_file["sources"]) == counted == result.report["evidence_file"]["items"]
    assert after_write(recording, result.report) is None
    [run] = store.runs()
    assert sum(len(s["evidence"]) for s in store.bundle(run)["sources"]) == counted
