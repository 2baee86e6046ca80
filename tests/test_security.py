"""Security matrix (issue 11): audited content is data, never code, and nothing leaks.

- no program an audited repository configures ever runs (fsmonitor, hooks, diff drivers,
  filters, textconv, gpg, pagers, helpers, promisor remotes), with or without a GX project,
  also when another user owns the repository;
- `${VAR}` in audited files is never expanded from the auditor's environment;
- every credential form is masked, in outputs, messages, cache folder names and cache files,
  and locators keep their names;
- hostile sizes (megabyte lines, alias bombs) cost at most about a second;
- repository URLs cannot be read as git options or transports.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pwd
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitutil import commit_files, git, make_repo
from httputil import serving

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.git.collector import GitCollector
from mlaudit.collectors.git.configs import REFUSED_YAML
from mlaudit.collectors.git.mirrors import mirror
from mlaudit.collectors.git.repos import RepoError, cache_path, network_env, run_git
from mlaudit.config import GitSettings, GitTarget
from mlaudit.errors import ConfigError
from mlaudit.evidence import EvidenceItem
from mlaudit.redact import (
    MAX_TEXT,
    clear_memo,
    may_hold_secret,
    redact,
    redact_full,
    redact_locator,
    redact_locator_full,
)

pytestmark = pytest.mark.faults  # part of the fault matrix (`pytest -m faults`)

TRAIN = "import mlflow\n\nmlflow.log_metric('auc', 0.9)\n"


def gx_config(results: str) -> str:
    """A GX 1.x `great_expectations.yml` with filesystem stores; results under `results`."""
    stores = {name: {"class_name": cls, "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                                         "base_directory": base}}
              for name, cls, base in [("expectations_store", "ExpectationsStore", "expectations/"),
                                      ("validation_results_store", "ValidationResultsStore", results),
                                      ("checkpoint_store", "CheckpointStore", "checkpoints/")]}
    return yaml.safe_dump({"config_version": 4.0, "stores": stores,
                           "config_variables_file_path": "uncommitted/config_variables.yml",
                           **{f"{name}_name": name for name in stores}})
BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def scan(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
         pythonpath: str | None = None) -> subprocess.CompletedProcess:
    """`mlaudit scan ...` as a user runs it (a process of its own, MLAUDIT_CONFIG ignored)."""
    full = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"}
    if pythonpath:
        full["PYTHONPATH"] = pythonpath
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", *args], capture_output=True,
                          text=True, env=full, stdin=subprocess.DEVNULL, timeout=timeout)


def outputs(out: Path, proc: subprocess.CompletedProcess) -> str:
    return "\n".join([proc.stdout, proc.stderr, *(p.read_text() for p in sorted(out.glob("report.*")))])


# ------------------------------------------------------------------ 1. no code from a repository
def _tripwire(tmp: Path) -> tuple[Path, Path]:
    """An executable that leaves a marker file when anything runs it (shell or not)."""
    marker = tmp / "PWNED"
    script = tmp / "tripwire.sh"
    script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> '{marker}'\nexit 1\n")
    script.chmod(0o755)
    return script, marker


def hostile_repo(path: Path, tmp: Path, gx: bool) -> tuple[Path, Path]:
    """A repository whose own config asks git to run a program in every way it knows, and
    whose HEAD is a signed commit (so `log.showSignature` would call gpg)."""
    script, marker = _tripwire(tmp)
    files: dict[str, str] = {"train.py": TRAIN, ".gitattributes": "* filter=x diff=x\n",
                             "requirements.txt": "mlflow\n"}
    if gx:
        files["gx/great_expectations.yml"] = gx_config("uncommitted/validations/")
    repo = make_repo(path, files)
    # a signed commit on top: gpgsig header in a real commit object
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    parent = git(repo, "rev-parse", "HEAD").strip()
    body = (f"tree {tree}\nparent {parent}\nauthor A <a@example.com> 1700000000 +0000\n"
            "committer A <a@example.com> 1700000000 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n"
            " iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\nsigned\n")
    (tmp / "commit.txt").write_text(body)
    signed = git(repo, "hash-object", "-t", "commit", "-w", str(tmp / "commit.txt")).strip()
    git(repo, "update-ref", "HEAD", signed)
    hooks = tmp / "hooks"
    hooks.mkdir(exist_ok=True)
    for hook in ("pre-commit", "post-checkout", "reference-transaction", "post-index-change",
                 "pre-auto-gc", "post-merge", "fsmonitor-watchman"):
        shutil.copy(script, hooks / hook)
        shutil.copy(script, repo / ".git" / "hooks" / hook)
    run = f"{script} x"
    for key, value in {
        "core.fsmonitor": f"touch '{marker}'; false", "core.hooksPath": str(hooks),
        "core.pager": run, "core.sshCommand": run, "core.askPass": str(script),
        "core.alternateRefsCommand": run, "diff.external": str(script), "diff.x.textconv": str(script),
        "diff.x.command": str(script), "filter.x.smudge": run, "filter.x.clean": run,
        "filter.x.process": run, "filter.x.required": "true", "credential.helper": f"!{script}",
        "log.showSignature": "true", "gpg.program": str(script), "gpg.ssh.program": str(script),
        "remote.origin.url": f"ext::sh -c touch% {marker}", "remote.origin.uploadpack": run,
        "remote.origin.promisor": "true", "uploadpack.packObjectsHook": run,
        "pager.log": run, "sequence.editor": run, "core.editor": run,
    }.items():
        git(repo, "config", key, value)
    (repo / "README.md").write_text("dirty work tree: git status would refresh the index\n")
    return repo, marker


@pytest.mark.parametrize("gx", [False, True], ids=["plain", "gx-project"])
def test_nothing_a_repository_configures_runs(tmp_path: Path, gx: bool) -> None:
    repo, marker = hostile_repo(tmp_path / "org" / "evil", tmp_path, gx)
    make_repo(tmp_path / "org" / "good", {"train.py": TRAIN + "# good\n"})
    out = tmp_path / "report"
    proc = scan(str(tmp_path / "org"), "-o", str(out), env={"GIT_CONFIG_NOSYSTEM": "1"})
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not marker.exists(), marker.read_text()
    report = json.loads((out / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    assert {t["name"] for t in git_run["targets"]} == {"evil", "good"}
    evil = next(t for t in git_run["targets"] if t["name"] == "evil")
    assert evil["coverage"]["files_read"] >= 2 and not evil["coverage"]["skipped"]
    assert any(e["subject"] == "evil" and e["signal"] == "experiment_tracking" for e in report["evidence"])
    if gx:  # the GX project inside it was read, and its commit found without a work-tree command
        gx_run = next(c for c in report["collectors"] if c["name"] == "gx")
        assert gx_run["status"] in ("ok", "partial") and gx_run["targets"], gx_run
        head = git(repo, "rev-parse", "HEAD").strip()
        assert head in json.dumps(gx_run["targets"]) or head in json.dumps(report["evidence"])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the repository to another user")
@pytest.mark.parametrize("gx", [False, True], ids=["plain", "gx-project"])
def test_a_repository_owned_by_another_user_is_read_and_runs_nothing(tmp_path: Path, gx: bool) -> None:
    repo, marker = hostile_repo(tmp_path / "org" / "evil", tmp_path, gx)
    head = git(repo, "rev-parse", "HEAD").strip()
    nobody = pwd.getpwnam("nobody")
    for folder, dirs, files in os.walk(repo):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(folder, name), nobody.pw_uid, nobody.pw_gid)
    os.chown(repo, nobody.pw_uid, nobody.pw_gid)
    out = tmp_path / "report"
    proc = scan(str(repo), "-o", str(out), env={"GIT_CONFIG_NOSYSTEM": "1"})
    assert "Traceback" not in proc.stderr and "dubious ownership" not in proc.stdout + proc.stderr
    assert not marker.exists(), marker.read_text()
    report = json.loads((out / "report.json").read_text())
    assert any(e["subject"] == "evil" and e["signal"] == "experiment_tracking" for e in report["evidence"])
    if gx:
        gx_run = next(c for c in report["collectors"] if c["name"] == "gx")
        assert head in json.dumps(gx_run["targets"]) + json.dumps(report["evidence"])


def test_gx_head_commit_reads_through_plumbing(tmp_path: Path) -> None:
    from mlaudit.collectors.gx.project import head_commit

    repo, marker = hostile_repo(tmp_path / "evil", tmp_path, gx=True)
    assert head_commit(repo / "gx") == git(repo, "rev-parse", "HEAD").strip()
    (repo / "other").mkdir()
    (repo / "other" / "great_expectations.yml").write_text("config_version: 4.0\n")  # not committed
    assert head_commit(repo / "other") is None
    assert not marker.exists()


# ------------------------------------------------------------------ 2. no environment expansion
def test_config_variables_never_come_from_the_auditors_environment(tmp_path: Path) -> None:
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEYzz"
    repo = make_repo(tmp_path / "org" / "quality", {
        "gx/great_expectations.yml": gx_config("uncommitted/validations/${AWS_SECRET_ACCESS_KEY}/"),
        "gx/expectations/.keep": "",
        "gx/checkpoints/.keep": "",
    })
    (repo / "gx" / "uncommitted" / "validations" / secret).mkdir(parents=True)
    out = tmp_path / "report"
    proc = scan(str(tmp_path / "org"), "-o", str(out),
                env={"AWS_SECRET_ACCESS_KEY": secret, "MLAUDIT_MARKER_SECRET": secret})
    assert "Traceback" not in proc.stderr
    text = outputs(out, proc)
    assert secret not in text
    report = json.loads((out / "report.json").read_text())
    gx_run = next(c for c in report["collectors"] if c["name"] == "gx")
    assert "AWS_SECRET_ACCESS_KEY" in json.dumps(gx_run) and "never takes values from its own environment" in text


def test_config_variables_file_is_used_and_secret_stores_are_never_fetched(tmp_path: Path) -> None:
    from mlaudit.collectors.gx.stores import StoreUnavailable, config_provider, open_gx_store

    ctx = tmp_path / "gx"
    (ctx / "uncommitted").mkdir(parents=True)
    (ctx / "uncommitted" / "config_variables.yml").write_text(
        "RESULTS: uncommitted/validations/\nBUCKET: secret|arn:aws:secretsmanager:eu-west-1:123456789012:secret:x\n")
    (ctx / "uncommitted" / "validations").mkdir()
    provider = config_provider(ctx, {"config_variables_file_path": "uncommitted/config_variables.yml"})
    store = open_gx_store(ctx, "results", {"class_name": "ValidationResultsStore", "store_backend": {
        "class_name": "TupleFilesystemStoreBackend", "base_directory": "${RESULTS}"}}, provider)
    assert store.keys() == []
    with pytest.raises(StoreUnavailable, match="never fetches secrets"):
        open_gx_store(ctx, "s3", {"class_name": "ValidationResultsStore", "store_backend": {
            "class_name": "TupleS3StoreBackend", "bucket": "${BUCKET}"}}, provider)
    outside = config_provider(ctx, {"config_variables_file_path": "/etc/passwd"})
    assert outside.values == {} and "outside the project" in outside.note


# ------------------------------------------------------------------ 3. redaction
@pytest.mark.parametrize(("text", "secret"), [
    ("clone http://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r.git", "ghp_abcdefghij"),
    ("remote http://0123456789abcdef0123456789abcdef@git.example.com/r.git", "0123456789abcdef"),
    ("url http://:hunter2pass@host.example.com/r.git", "hunter2pass"),
    ("cache redis://:r3dispass@cache:6379/0", "r3dispass"),
    ("db postgresql://app:pg5ecret@db:5432/features", "pg5ecret"),
    ("db mysql+pymysql://root:my5ecret@db/x", "my5ecret"),
    ("token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ", "github_pat_11ABC"),
    ("HF token hf_abcdefghijklmnopqrstuvwxyzABCDEFGH used", "hf_abcdefghijklmnop"),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA==' x", "dXNlcjpwYXNzd29yZA"),
    ('{"password": "hunter2x"}', "hunter2x"),
    ("AWS key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
])
def test_every_secret_form_is_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked and "***" in masked
    assert redact(masked) == masked  # idempotent
    if "password" not in text:  # all but `key: value` also in names and locators
        assert secret not in redact_locator(text)


def test_locators_and_paths_keep_their_names() -> None:
    locator = "secretrepo:src/tokenizer.py:12@abc123"
    item = EvidenceItem(collector="git", signal="ci_pipeline", locator=locator, subject="secretrepo",
                        excerpt="tokenizer = AutoTokenizer.from_pretrained('bert')",
                        attributes={"path": "keys/secret_key.py:3", "api_key": "password: abcd1234efgh"})
    assert item.locator == locator and item.subject == "secretrepo"
    assert item.excerpt == "tokenizer = AutoTokenizer.from_pretrained('bert')"
    assert item.attributes["path"] == "keys/secret_key.py:3"
    assert "abcd1234efgh" not in item.attributes["api_key"]
    assert redact("https://admin:pw12345@mlflow.example.com") == "https://admin:***@mlflow.example.com"


class _AuthHandler(SimpleHTTPRequestHandler):
    """Git's dumb HTTP protocol (static files) behind Basic authentication."""

    expected = ""
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        auth = self.headers.get("Authorization", "")
        type(self).seen.append(auth)
        if auth != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def auth_server(root: Path, user: str, password: str) -> Iterator[str]:
    handler = type("Handler", (_AuthHandler,), {
        "expected": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(), "seen": []})
    with serving(lambda *a: handler(*a, directory=str(root))) as url:
        yield url.removeprefix("http://")


@pytest.mark.parametrize(("user", "password"), [("ghp_abcdefghijklmnopqrstuvwxyz0123", ""),
                                                ("deploy", "s3cr3t-passw0rd")])
def test_remote_credentials_stay_out_of_outputs_and_the_cache(tmp_path: Path, user: str, password: str) -> None:
    served = tmp_path / "srv"
    upstream = make_repo(tmp_path / "upstream", {"train.py": TRAIN})
    git(served.parent, "clone", "-q", "--bare", str(upstream), str(served / "model.git"))
    git(served / "model.git", "update-server-info")
    secret = password or user
    with auth_server(served, user, password) as host:
        url = f"http://{user}:{password}@{host}/model.git" if password else f"http://{user}@{host}/model.git"
        cfg = tmp_path / "mlaudit.yaml"
        cache = tmp_path / "cache"
        cfg.write_text(f"version: 1\ngit:\n  cache_dir: {cache}\n  targets:\n    - url: {url}\n")
        out = tmp_path / "report"
        first = scan("--config", str(cfg), "-o", str(out))
        commit_files(upstream, {"serve.py": "print(1)\n"}, message="second")
        git(served / "model.git", "fetch", "-q", str(upstream), "+refs/heads/*:refs/heads/*")
        git(served / "model.git", "update-server-info")
        second = scan("--config", str(cfg), "-o", str(out))  # a fetch into the mirror
    for proc in (first, second):
        assert proc.returncode == 0, proc.stderr
        assert secret not in outputs(out, proc)
    report = json.loads((out / "report.json").read_text())
    assert any(e["signal"] == "experiment_tracking" for e in report["evidence"])
    assert git(served / "model.git", "rev-parse", "HEAD").strip() in json.dumps(report)
    for path in cache.rglob("*"):
        assert secret not in str(path)
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    (mirror_dir,) = [p for p in cache.rglob("*.git") if p.is_dir()]
    assert stat.S_IMODE((mirror_dir / "config").stat().st_mode) == 0o600
    assert cache_path(cache, url) == mirror_dir


# every secret form the patterns know, and near misses that hold a trigger but no secret
SECRET_FORMS = [
    "AKIAIOSFODNN7EXAMPLE", "ASIA0123456789ABCDEF", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SECRET_ACCESS_KEY:'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'", "ghp_abcdefghijklmnopqrstuvwxyz0123",
    "gho_ABCDEFGHIJKLMNOPQRST12", "github_pat_11ABCDEFG0123456789_abcdefgh", "glpat-abcdefghij_klmnopqrst",
    "xoxb-1234567890-abcdef", "xoxp-0000000000", "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "sk-proj-abcdefghijklmnopqrst", "dapi0123456789abcdef0123456789abcdef-2", "Authorization: Basic dXNlcjpwYXNz",
    "proxy-authorization=Bearer abcdefghijklmnopqrstuv==", '"Authorization": "token 0123456789"', "bearer  abc.def_ghi~jkl+mno/pq=",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----\nabc",
    "password=hunter22", 'db_passwd: "s3cr3t!"', "client_secret='abcdefgh'", "API-KEY = 12345678",
    "access_key: AKfoo1234", "private-key=ZZZZzzzz", "MY_TOKEN=abcd;", "https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r",
    "https://user:pa55word@git.example.com/r.git", "redis://:r3dis@cache:6379/0", "s3://0123456789abcdef0123456789abcdef@bucket",
    "https://***@host/x", "postgresql://app:***@db/x",
]
NEAR_MISSES = [
    "AKIA0123", "akiaIOSFODNN7EXAMPLE", "ghp_short", "gh_x", "github_pat_", "glpat-x", "xoxz-1234567890", "hf_abc",
    "sk-", "sk-short", "dapi0123", "Authorization:", "authorization: token", "Bearer ", "bearer x", "-----BEGIN",
    "-----BEGIN CERTIFICATE-----", "passw", "password", "password=", "password: ab", "secret_scanning: on", "tokenizer=AutoTokenizer",
    "token_count = 3", "api key", "accesskey", "private key", "://", "a://b", "http://host/path", "user@host", "x://@",
    "mailto:me@example.com", "https://@host", "ſecret=abcdefgh", "toKen=abcdefgh", "PASSWORD=hunter22x", "BEARER abcdefghijklmnopqrst",
    "\udcda" + "pi0123456789abcdef0123456789abcdef", "\udcff", "line\nbreak", "tab\tand\x7f", "***", "models:/churn@champion",
    "secretrepo:src/tokenizer.py:12@abc123", "runs:/0123456789abcdef0123456789abcdef",
]
FILLER = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./:@=;,'\"{}()\n\téüſK"


def _random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 5)):
        roll = rng.random()
        if roll < 0.3:
            part = rng.choice(SECRET_FORMS)
        elif roll < 0.6:
            part = rng.choice(NEAR_MISSES)
        else:
            part = "".join(rng.choice(FILLER) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.2:  # one character changed, inserted or cut
            i = rng.randint(0, len(part))
            part = part[:i] + rng.choice(["", rng.choice(FILLER)]) + part[i + rng.randint(0, 1):]
        if rng.random() < 0.2:
            part = part.upper() if rng.random() < 0.5 else part.swapcase()
        parts.append(part)
    return rng.choice(["", " ", "\n", "=", ": ", "/"]).join(parts)


def test_the_fast_path_masks_exactly_what_the_full_pass_masks() -> None:
    rng = random.Random(20261205)
    corpus = [_random_text(rng) for _ in range(20_000)] + SECRET_FORMS + NEAR_MISSES
    clear_memo()
    masked = changed_by_fast = 0
    for text in corpus:
        full, locator = redact_full(text), redact_locator_full(text)
        for _ in range(2):  # the second call may come from the memo of unchanged strings
            assert redact(text) == full, text
            assert redact_locator(text) == locator, text
        masked += "***" in full and "***" not in text
        changed_by_fast += full != text
    # the corpus exercises both sides: many secrets masked, many strings left as they were
    assert masked > 5_000 and len(corpus) - changed_by_fast > 5_000
    # a trigger-free string skips the patterns; each secret form holds a trigger
    assert not may_hold_secret("1234 runs in 180 days by 12 user(s)")
    assert all(may_hold_secret(form) or ("://" in form and "@" in form) for form in SECRET_FORMS)


# ------------------------------------------------------------------ 4. hostile sizes
@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def expire(*_: object) -> None:
        raise TimeoutError(f"took more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("text", [
    "x." * 500_000, "password=" * 100_000, 'password="' * 100_000, "a://" * 250_000,
    "http://a:" + "b" * 1_000_000, "-----BEGIN PRIVATE KEY-----\n" * 30_000, "Authorization: " * 60_000,
    "bearer " * 150_000, "a-a." * 250_000, "x=token:" * 120_000, "sk-" * 300_000,
], ids=lambda t: repr(t[:12]))
def test_redaction_is_linear_on_pathological_text(text: str) -> None:
    with deadline(5):
        redact(text)
        redact(text[:MAX_TEXT])  # not cut: the patterns themselves are linear
        redact_locator(text)


def test_a_five_megabyte_message_is_cut_and_still_redacted() -> None:
    body = "upstream error: postgresql://app:pg5ecret@db/x " + "<html>" * 900_000
    with deadline(2):
        masked = redact(body)
    assert "pg5ecret" not in masked and len(masked) < MAX_TEXT + 100 and masked.endswith("characters cut]")


def test_a_megabyte_line_and_an_alias_bomb_cost_a_scan_about_nothing(tmp_path: Path) -> None:
    line = "import mlflow  # " + "x." * 500_000 + "\n"
    make_repo(tmp_path / "org" / "big", {
        "train.py": line + TRAIN, ".github/workflows/ci.yml": BOMB,
        "config.yaml": "jobs:\n" + BOMB, "environment.yml": "dependencies:\n  - " + BOMB,
    })
    make_repo(tmp_path / "org" / "good", {"train.py": TRAIN + "# good\n",
                                          ".github/workflows/ci.yml": "on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n      - run: pytest\n"})
    out = tmp_path / "report"
    started = time.monotonic()
    proc = scan(str(tmp_path / "org"), "-o", str(out), timeout=60)
    assert time.monotonic() - started < 30  # before: many minutes (or never, for the bomb)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    targets = {t["name"]: t for c in report["collectors"] if c["name"] == "git" for t in c["targets"]}
    assert targets["big"]["coverage"]["skipped"] == {REFUSED_YAML: 2}
    assert f"big: 2 file(s) skipped: 2 {REFUSED_YAML}" in proc.stderr
    assert any(e["subject"] == "good" and e["signal"] == "ci_pipeline" for e in report["evidence"])
    assert any(e["subject"] == "big" and e["signal"] == "experiment_tracking" for e in report["evidence"])


@pytest.mark.parametrize("where", ["config", "survey"])
def test_an_alias_bomb_in_the_users_files_is_a_config_error(tmp_path: Path, where: str) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": TRAIN})
    cfg = tmp_path / "mlaudit.yaml"
    if where == "config":
        cfg.write_text(f"version: 1\ngit:\n  targets: [{repo}]\n" + BOMB)
        args = ["--config", str(cfg)]
    else:
        (tmp_path / "answers.yaml").write_text("version: 1\n" + BOMB)
        args = [str(repo), "--survey", str(tmp_path / "answers.yaml")]
    proc = scan(*args, "-o", str(tmp_path / "out"), timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    name = "mlaudit.yaml" if where == "config" else "answers.yaml"
    assert f"{name}:" in proc.stderr and "alias" in proc.stderr
    assert ":6" in proc.stderr or ":7" in proc.stderr or ":8" in proc.stderr, proc.stderr  # the line


def test_a_self_containing_config_is_refused_with_its_line(tmp_path: Path) -> None:
    from mlaudit.config import parse_config

    with pytest.raises(ConfigError) as err:
        parse_config("version: 1\norganisation: x\nwaivers: &w [*w]\n", "c.yaml")
    assert err.value.line == 3 and "contains it" in str(err.value)


# ------------------------------------------------------------------ 5. options and transports
@pytest.mark.parametrize("url", ["--upload-pack=touch PWNED", "-uhttps://x/y", "ext::sh -c touch% PWNED",
                                 "https://-oProxyCommand=x/y", "fd::17", "/tmp/not-a-url"])
def test_urls_that_git_could_take_for_options_or_transports_are_refused(tmp_path: Path, url: str) -> None:
    cfg = tmp_path / "mlaudit.yaml"
    cfg.write_text("version: 1\ngit:\n  targets:\n    - url: '" + url + "'\n")
    proc = scan("--config", str(cfg), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "mlaudit.yaml:4" in proc.stderr and "git.targets.0" in proc.stderr
    with pytest.raises(RepoError):
        mirror(url, tmp_path / "cache")
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()


def test_only_plain_transports_are_allowed_when_mirroring(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    with pytest.raises(RepoError, match="not allowed|unsupported"):
        run_git(["clone", "--mirror", "--quiet", "--", f"ext::sh -c touch% {marker}", str(tmp_path / "m")],
                env=network_env())
    assert not marker.exists()
    upstream = make_repo(tmp_path / "up", {"train.py": TRAIN})
    dest, action = mirror(f"file://{upstream}", tmp_path / "cache")
    assert action == "cloned" and (dest / "HEAD").is_file()


def test_collector_reads_a_hostile_repository_in_process(tmp_path: Path) -> None:
    repo, marker = hostile_repo(tmp_path / "evil", tmp_path, gx=False)
    result = GitCollector(GitSettings(targets=[GitTarget(path=repo)])).collect(CollectContext())
    assert not marker.exists()
    assert any(e.signal == "experiment_tracking" for e in result.evidence)


def test_only_a_text_that_could_hold_an_alias_is_checked_for_expansion() -> None:
    """The expansion check walks every node of a document twice; it is skipped where no anchor
    (`&`) is written, because then no node can appear twice in the tree (an alias must name an
    anchor). Over every YAML file of this project and of its test corpus: each text without `&`
    composes to a tree of distinct nodes; a bomb and a self-containing document are still refused,
    and a cron line full of `*` loads."""
    from mlaudit import safe_yaml

    pyyaml = yaml

    def walk_count(node: Any) -> int:  # nodes counted as often as they appear
        stack, n = [node], 0
        while stack:
            cur = stack.pop()
            n += 1
            stack.extend(safe_yaml._children(cur))
        return n

    root = Path(__file__).resolve().parents[1]
    texts = [p.read_text(encoding="utf-8", errors="replace")
             for p in [*root.rglob("*.yml"), *root.rglob("*.yaml")] if ".venv" not in p.parts]
    checked = 0
    for text in texts:
        if "&" in text:
            continue
        try:
            nodes = list(pyyaml.compose_all(text, Loader=pyyaml.SafeLoader))
        except pyyaml.YAMLError:
            continue
        for node in nodes:
            if node is not None:
                assert walk_count(node) == safe_yaml._distinct(node)
                checked += 1
    assert checked >= 8
    assert not safe_yaml.may_alias("schedule:\n  - cron: '*/5 * * * *'\n")
    assert safe_yaml.safe_load("schedule:\n  - cron: '*/5 * * * *'\n") == {"schedule": [{"cron": "*/5 * * * *"}]}
    with pytest.raises(pyyaml.YAMLError):  # an alias without its anchor does not compose at all
        safe_yaml.safe_load("a: *nowhere\n")
    assert safe_yaml.may_alias(BOMB) and safe_yaml.may_alias(b"a: &x 1") and safe_yaml.may_alias(io.StringIO("a"))
    with pytest.raises(safe_yaml.ExpansionError):
        safe_yaml.safe_load(BOMB)
    with pytest.raises(safe_yaml.ExpansionError):
        pyyaml.load(BOMB, Loader=safe_yaml.SafeLoader)  # noqa: S506 - the guarded loader
