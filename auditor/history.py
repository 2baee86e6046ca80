"""Run history: every scan kept (all evidence, findings, scores), re-scorable and comparable.

A history LOCATION is a local folder or an S3 prefix (`s3://bucket/prefix`, boto3 imported only
then, through the normal credential chain). Each run is a folder `runs/<run id>/` of three
objects: `report.json.gz` (the report), `evidence.json.gz` (every evidence item the collectors
produced, with what is needed to score it again: see evidence.schema.json) and `manifest.json`,
written **last**. Readers list manifests only, and check each object's sha256 against its
manifest, so a run killed half-way is never read back. Every object is written whole (a temp file
renamed into place; one PUT per object on S3) and run ids are unique (time + random), so
concurrent scans never touch each other's objects. Retention removes the oldest runs, manifest
first.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mlaudit import __version__
from mlaudit.errors import UsageError
from mlaudit.redact import redact

log = logging.getLogger("mlaudit")

EVIDENCE_FILE = "evidence.json.gz"
EVIDENCE_FORMAT = "mlaudit-evidence/1"
MANIFEST_FORMAT = "mlaudit-history-run/1"
REPORT_OBJECT, EVIDENCE_OBJECT, MANIFEST_OBJECT = "report.json.gz", EVIDENCE_FILE, "manifest.json"
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


# -- what a run is made of ---------------------------------------------------------------------
def rubric_version() -> str:
    """The rubric's identity: the sha256 of the rubric data the checks were run with."""
    from mlaudit.checks.definitions import RUBRIC_PATH

    return "sha256:" + hashlib.sha256(Path(RUBRIC_PATH).read_bytes()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """Config values as JSON (dataclasses, paths, tuples), every string redacted."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return redact(str(value))
    if isinstance(value, str):
        return redact(value)
    return value


#: config keys that change where reports go, not what is audited or how it is scored
_NOT_FINGERPRINTED = ("source", "output", "formats", "history", "history_keep")


def config_fingerprint(config: Any) -> str:
    """A stable hash of what the config audits and how it scores (secrets redacted first, so the
    fingerprint never depends on, nor reveals, a credential)."""
    data = {k: v for k, v in _plain(config).items() if k not in _NOT_FINGERPRINTED}
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:16]


_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _compact_encoder() -> Any:
    """`_COMPACT.encode`, with the C encoder made once rather than at every call (an estate's
    evidence is tens of thousands of calls); the same text."""
    from json.encoder import c_make_encoder, encode_basestring

    if c_make_encoder is None:
        return _COMPACT.encode
    # the arguments `JSONEncoder.iterencode` passes it, for the settings of _COMPACT
    encode = c_make_encoder({}, _not_json, encode_basestring, None, ":", ",", True, False, False)

    def compact(value: Any) -> str:
        if isinstance(value, str):
            return encode_basestring(value)
        return "".join(encode(value, 0))

    return compact


_encode = _compact_encoder()


def _json_pieces(value: Any, depth: int = 0) -> Iterator[str]:
    """`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False)` in pieces: the outer levels of dicts (with text keys) and lists, and any
    large one, entry by entry; the rest (an evidence item, say) by the C encoder in one call.
    Joined, the pieces are that text exactly."""
    kind = type(value)
    if (kind is dict or kind is list or kind is tuple) and (depth < 4 or len(value) > 32) and value:
        if kind is dict:
            if all(type(k) is str for k in value):
                sep = "{"
                for key in sorted(value):
                    yield sep + _encode(key) + ":"
                    yield from _json_pieces(value[key], depth + 1)
                    sep = ","
                yield "}"
                return
        else:
            sep = "["
            for entry in value:
                yield sep
                yield from _json_pieces(entry, depth + 1)
                sep = ","
            yield "]"
            return
    yield _encode(value)


def gz_json(data: Any) -> bytes:
    """Deterministic gzipped JSON (no timestamp in the gzip header): the bytes of
    `gzip.compress(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False).encode(), compresslevel=6, mtime=0)`, but encoded and compressed a batch of
    pieces at a time, so neither the whole text nor its UTF-8 bytes are ever held (an estate's
    evidence is tens of megabytes of JSON). zlib's level 6 (its own default): within a few per
    cent of level 9's size, in half the time."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    # the header zlib writes (and gzip.compress(..., mtime=0) with it): deflate, no flags, no
    # time, level 6's extra flags (none), Unix
    out = [struct.pack("<BBBBLBB", 0x1F, 0x8B, 8, 0, 0, 0, 3)]
    crc = size = 0
    held: list[str] = []
    held_len = 0
    for piece in _json_pieces(data):
        held.append(piece)
        held_len += len(piece)
        if held_len >= 1 << 18:
            chunk = "".join(held).encode("utf-8")
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
            out.append(deflate.compress(chunk))
            held, held_len = [], 0
    chunk = "".join(held).encode("utf-8")
    crc, size = zlib.crc32(chunk, crc), size + len(chunk)
    out += [deflate.compress(chunk), deflate.flush(), struct.pack("<LL", crc, size & 0xFFFFFFFF)]
    return b"".join(out)


def read_gz_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(gzip.decompress(data).decode("utf-8"))
    except (OSError, EOFError, ValueError) as exc:
        raise UsageError(f"{what} is not gzipped JSON: {exc}") from None


@cache
def evidence_schema() -> dict[str, Any]:
    return json.loads(resources.files("mlaudit").joinpath("evidence.schema.json").read_text())


def evidence_bundle(audit: Any, config: Any, as_of: date | None = None) -> dict[str, Any]:
    """Everything a run saw, in the order it saw it: per source its status and every evidence
    item, plus the settings scoring used. `rescore` rebuilds the whole run from this alone."""
    report = audit.report
    return {
        "format": EVIDENCE_FORMAT,
        "tool": {"name": "mlaudit", "version": __version__},
        "rubric_version": rubric_version(),
        "generated_at": report["generated_at"],
        "audit_date": (as_of.isoformat() if as_of else report["generated_at"][:10]),
        "as_of": as_of.isoformat() if as_of else None,
        "config_fingerprint": config_fingerprint(config),
        "settings": {
            "organisation": config.organisation,
            "threshold": config.threshold,
            "lookback_days": config.lookback_days,
            "fail_under": config.fail_under,
            "timeout_s": config.timeout_s,
            "sandbox": bool(getattr(config, "sandbox", False)),
            "config_file": report["run"]["config_file"],
            "scan_path": report["run"]["scan_path"],
            "waivers": [w.to_dict() for w in config.waivers],
        },
        "sources": [
            {
                "name": run.collector.name,
                "letter": run.collector.letter,
                "status": run.status,
                "error": run.error,
                "duration_s": round(run.duration_s, 3),
                "targets": run.result.targets,
                "errors": [e.to_dict() for e in run.result.errors],
                "warnings": run.result.warnings,
                "gaps": run.result.gaps,
                "evidence": [item.to_dict() for item in run.result.evidence],
            }
            for run in audit.runs
        ],
    }


def evidence_reference(bundle: dict[str, Any], data: bytes) -> dict[str, Any]:
    """What report.json says about its sibling evidence file."""
    return {
        "path": EVIDENCE_FILE,
        "format": EVIDENCE_FORMAT,
        "sha256": hashlib.sha256(data).hexdigest(),
        "items": sum(len(s["evidence"]) for s in bundle["sources"]),
        "rubric_version": bundle["rubric_version"],
        "config_fingerprint": bundle["config_fingerprint"],
    }


def check_bundle(bundle: Any, what: str) -> dict[str, Any]:
    """The bundle when it matches evidence.schema.json, else one clear UsageError."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(evidence_schema())
    error = next(iter(sorted(validator.iter_errors(bundle), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise UsageError(f"{what} is not an mlaudit evidence file ({where}: {error.message})")
    return bundle


# -- replaying a stored run --------------------------------------------------------------------
class StoredSource:
    """A source as a stored run recorded it: its name and rubric letter (what CollectorRun needs
    to name it); it reads nothing."""

    def __init__(self, name: str, letter: str) -> None:
        self.name, self.letter = name, letter


def replay_runs(bundle: dict[str, Any]) -> list[Any]:
    """The collector runs of a stored bundle, exactly as they ended (status, error, evidence)."""
    from mlaudit.collectors.base import CollectorResult, TargetError
    from mlaudit.engine import CollectorRun
    from mlaudit.evidence import EvidenceItem

    runs = []
    for s in bundle["sources"]:
        result = CollectorResult(
            evidence=[EvidenceItem.from_dict(e) for e in s["evidence"]],
            targets=s["targets"],
            errors=[TargetError(e["target"], e["message"]) for e in s["errors"]],
            warnings=list(s["warnings"]),
            gaps=dict(s["gaps"]),
        )
        runs.append(CollectorRun(StoredSource(s["name"], s["letter"]), status=s["status"],  # type: ignore[arg-type]
                                 result=result, error=s["error"], duration_s=s["duration_s"]))
    return runs


def bundle_config(bundle: dict[str, Any]) -> Any:
    """The scoring settings of a stored run as a Config (no source is configured: nothing is read)."""
    from mlaudit.config import Config, Waiver

    s = bundle["settings"]
    return Config(source=s.get("config_file"), organisation=s.get("organisation"),
                  lookback_days=s["lookback_days"], threshold=s["threshold"], fail_under=s.get("fail_under"),
                  timeout_s=s.get("timeout_s", 900.0), sandbox=bool(s.get("sandbox", False)),
                  waivers=[Waiver(w["check"], w["reason"], w["owner"], w["expires"]) for w in s.get("waivers", [])])


def rescore_bundle(bundle: dict[str, Any], frameworks: list[Any] | None = None) -> Any:
    """The run scored again from its stored evidence with the installed rubric, as of its date;
    `frameworks` (`Framework`) are reported from the new findings."""
    from mlaudit.engine import audit

    scan_path = bundle["settings"].get("scan_path")
    config = bundle_config(bundle)
    config.frameworks = list(frameworks or [])
    return audit(config, scan_path=Path(scan_path) if scan_path else None,
                 runs=replay_runs(bundle), today=date.fromisoformat(bundle["audit_date"][:10]))


# -- the store ---------------------------------------------------------------------------------
@dataclass
class StoredRun:
    """One run as its manifest describes it."""

    run_id: str
    manifest: dict[str, Any]

    @property
    def date(self) -> str:
        """The date the run describes: its as-of date when backfilled, else its audit day."""
        return self.manifest.get("as_of") or self.manifest["generated_at"][:10]

    @property
    def sort_key(self) -> tuple[str, str, int, str]:
        return (self.date, self.manifest["generated_at"], int(self.manifest.get("recorded_ns") or 0), self.run_id)


class Store:
    """Whole objects under a root: put, get, list, delete. Subclasses say where."""

    location: str

    def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        raise NotImplementedError

    def list(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    # -- runs --------------------------------------------------------------------------------
    def save_run(self, report: dict[str, Any], bundle: dict[str, Any], evidence_data: bytes | None = None,
                 run_id: str | None = None) -> str:
        """Store one run; the manifest is written last, so the run exists only once complete."""
        run_id = run_id or new_run_id()
        stored = {k: v for k, v in report.items() if k != "history"}
        objects = {REPORT_OBJECT: gz_json(stored), EVIDENCE_OBJECT: evidence_data or gz_json(bundle)}
        for name, data in objects.items():
            self.put(f"runs/{run_id}/{name}", data)
        point = trend_point(run_id, report, bundle.get("as_of"))
        manifest = {
            "format": MANIFEST_FORMAT,
            "run_id": run_id,
            "generated_at": report["generated_at"],
            # orders two runs of one second (generated_at counts whole seconds)
            "recorded_ns": time.time_ns(),
            "as_of": bundle.get("as_of"),
            "backfilled": point["backfilled"],
            "tool_version": __version__,
            "rubric_version": bundle["rubric_version"],
            "config_fingerprint": bundle["config_fingerprint"],
            "organisation": report.get("organisation"),
            "overall": point["overall"],
            "dimensions": point["dimensions"],
            "unread_sources": point["unread_sources"],
            "objects": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                        for name, data in objects.items()},
        }
        self.put(f"runs/{run_id}/{MANIFEST_OBJECT}",
                 json.dumps(manifest, sort_keys=True, indent=2).encode("utf-8"))
        return run_id

    def runs(self) -> list[StoredRun]:
        """Every complete run, oldest first (by the date it describes)."""
        out = []
        for key in self.list("runs/"):
            parts = key.split("/")
            if len(parts) != 3 or parts[2] != MANIFEST_OBJECT or not _RUN_ID.match(parts[1]):
                continue
            try:
                manifest = json.loads(self.get(key))
                if manifest.get("format") != MANIFEST_FORMAT or manifest.get("run_id") != parts[1]:
                    raise ValueError("not an mlaudit run manifest")
            except (ValueError, KeyError, OSError) as exc:
                log.warning("history %s: run %s skipped: %s", self.location, parts[1], exc)
                continue
            out.append(StoredRun(parts[1], manifest))
        return sorted(out, key=lambda r: r.sort_key)

    def find(self, ref: str) -> StoredRun:
        """A run by id (a unique prefix will do), or `latest` / `previous`."""
        runs = self.runs()
        if not runs:
            raise UsageError(f"no runs in the history at {self.location}")
        if ref in ("latest", "last"):
            return runs[-1]
        if ref == "previous":
            if len(runs) < 2:
                raise UsageError(f"the history at {self.location} holds only one run")
            return runs[-2]
        matches = [r for r in runs if r.run_id.startswith(ref)]
        if len(matches) != 1:
            found = "no run" if not matches else f"{len(matches)} runs"
            raise UsageError(f"{found} in the history at {self.location} match {ref!r} "
                             "(see `mlaudit history list`)")
        return matches[0]

    def _object(self, run: StoredRun, name: str) -> bytes:
        data = self.get(f"runs/{run.run_id}/{name}")
        expected = run.manifest["objects"][name]["sha256"]
        if hashlib.sha256(data).hexdigest() != expected:
            raise UsageError(f"history run {run.run_id}: {name} does not match its manifest (damaged)")
        return data

    def report(self, run: StoredRun) -> dict[str, Any]:
        return read_gz_json(self._object(run, REPORT_OBJECT), f"history run {run.run_id} report")

    def bundle(self, run: StoredRun) -> dict[str, Any]:
        return check_bundle(read_gz_json(self._object(run, EVIDENCE_OBJECT), f"history run {run.run_id} evidence"),
                            f"history run {run.run_id} evidence")

    def sweep(self, older_than_s: float = 3600.0) -> list[str]:
        """Remove what killed runs left: objects of a run that never got its manifest, once its
        id (its start time) is older than `older_than_s` — never a run still being written."""
        now = datetime.now(UTC).timestamp()
        by_run: dict[str, list[str]] = {}
        for key in self.list("runs/"):
            parts = key.split("/")
            if len(parts) == 3 and _RUN_ID.match(parts[1]):
                by_run.setdefault(parts[1], []).append(parts[2])
        swept = []
        for run_id, names in by_run.items():
            started = datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            if MANIFEST_OBJECT not in names and now - started > older_than_s:
                for name in names:
                    self.delete(f"runs/{run_id}/{name}")
                swept.append(run_id)
        return swept

    def prune(self, keep: int) -> list[str]:
        """Remove all but the newest `keep` runs (manifest first: a run being removed is never
        read half-gone). Returns the removed run ids."""
        runs = self.runs()
        removed = []
        for run in runs[: max(0, len(runs) - keep)]:
            self.delete(f"runs/{run.run_id}/{MANIFEST_OBJECT}")
            for name in run.manifest.get("objects", {}):
                self.delete(f"runs/{run.run_id}/{name}")
            removed.append(run.run_id)
        return removed


class LocalStore(Store):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # as any file the user writes (mkstemp makes 0600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def sweep(self, older_than_s: float = 3600.0) -> list[str]:
        import time

        for tmp in self._path("runs").glob("*/.*.tmp"):
            try:
                if time.time() - tmp.stat().st_mtime > older_than_s:
                    tmp.unlink()
            except OSError:
                pass
        return super().sweep(older_than_s)

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*")
                      if p.is_file() and not p.name.endswith(".tmp"))

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass  # not empty yet, or gone


class S3Store(Store):
    """An S3 prefix through boto3 and the normal credential chain (AWS_ENDPOINT_URL honoured)."""

    def __init__(self, bucket: str, prefix: str) -> None:
        import boto3  # only when an S3 history is used

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                               ChecksumAlgorithm="SHA256")

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def list(self, prefix: str) -> list[str]:
        full = self._key(prefix)
        cut = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(obj["Key"][cut:] for obj in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def open_store(location: str | os.PathLike[str]) -> Store:
    """The store at LOCATION: `s3://bucket/prefix` or a local folder (created when first written)."""
    text = str(location)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://"):].partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise UsageError(f"--history: not an S3 bucket name in {redact(text)!r} (expected s3://bucket/prefix)")
        return S3Store(bucket, prefix)
    if "://" in text:
        raise UsageError(f"--history: unsupported location {redact(text)!r} (a folder or s3://bucket/prefix)")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--history: not a folder: {path}")
    return LocalStore(path)


def store_errors() -> tuple[type[BaseException], ...]:
    """What a store raises when it cannot be read or written (OS errors, and boto's when loaded)."""
    import sys

    errors: list[type[BaseException]] = [OSError]
    if "botocore" in sys.modules:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    return tuple(errors)


# -- a scan with history -----------------------------------------------------------------------
TREND_POINTS = 8


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def dimension_levels(summary: dict[str, Any]) -> dict[str, int | None]:
    """Each dimension's level, None when not assessed (never 0 for "no evidence")."""
    return {k: (v["level"] if v["assessed"] else None) for k, v in summary["dimensions"].items()}


def trend_point(run_id: str | None, report: dict[str, Any], as_of: str | None, current: bool = False) -> dict[str, Any]:
    summary = report["summary"]
    return {
        "run_id": run_id,
        "date": as_of or report["generated_at"][:10],
        "generated_at": report["generated_at"],
        "backfilled": as_of is not None,
        "current": current,
        "overall": summary["overall"]["level"],
        "dimensions": dimension_levels(summary),
        "unread_sources": sorted(c["name"] for c in report["collectors"] if c["status"] in ("failed", "timeout", "not_read")),
    }


def _manifest_point(run: StoredRun) -> dict[str, Any]:
    m = run.manifest
    return {"run_id": run.run_id, "date": run.date, "generated_at": m["generated_at"],
            "backfilled": bool(m.get("backfilled")), "current": False, "overall": m.get("overall"),
            "dimensions": m.get("dimensions") or {}, "unread_sources": m.get("unread_sources") or []}


@dataclass
class Recording:
    """A run on its way into the history: its evidence file, and where it goes."""

    run_id: str
    bundle: dict[str, Any]  # its metadata (format, versions, dates, settings): no sources
    evidence_data: bytes
    store: Store | None
    keep: int | None = None
    problem: str | None = None  # why the history could not be used (the scan says so, exits 3)

    @property
    def extra(self) -> dict[str, bytes]:
        """Files written beside report.json."""
        return {EVIDENCE_FILE: self.evidence_data}

    def save(self, report: dict[str, Any]) -> list[str]:
        """Add the run to the store, then apply retention; returns the pruned run ids."""
        if self.store is None:
            return []
        self.store.save_run(report, self.bundle, self.evidence_data, run_id=self.run_id)
        self.store.sweep()
        return self.store.prune(self.keep) if self.keep else []


def record(result: Any, config: Any, store: Store | None, as_of: date | None = None,
           keep: int | None = None) -> Recording:
    """Before the reports are written: the evidence file is referenced from the report and, with
    a history, the report gets its trend and its "since last review" (against the latest stored
    run dated before this one)."""
    from mlaudit.history_diff import diff_runs

    if as_of is None:  # `scan --as-of D`: D is the run's audit date, in the history as well
        as_of = getattr(config, "as_of", None)
    bundle = evidence_bundle(result, config, as_of)
    data = gz_json(bundle)
    report = result.report
    report["evidence_file"] = evidence_reference(bundle, data)
    if as_of is not None:
        report["run"]["as_of"] = as_of.isoformat()
    # the recording keeps the bundle's metadata only: the evidence is in `data`, and the dicts of
    # every item (as many again as the evidence itself) are freed before the reports are written
    rec = Recording(new_run_id(), {k: v for k, v in bundle.items() if k != "sources"}, data, store, keep)
    if store is None:
        return rec
    here = trend_point(rec.run_id, report, bundle["as_of"], current=True)
    earlier = [r for r in store.runs() if r.date <= here["date"]]
    since = None
    if earlier:
        prev = earlier[-1]
        try:
            since = diff_runs(store.report(prev), report, store.bundle(prev), bundle, id_a=prev.run_id, id_b=rec.run_id)
        except (UsageError, *store_errors()) as exc:  # e.g. pruned meanwhile by a concurrent run
            log.warning("history %s: the previous run cannot be compared: %s", redact(store.location), exc)
    report["history"] = {
        "location": redact(store.location),
        "run_id": rec.run_id,
        "trend": [_manifest_point(r) for r in earlier[-(TREND_POINTS - 1):]] + [here],
        "since_last_review": since,
    }
    return rec


# -- backfill from git -------------------------------------------------------------------------
def quarter_ends(count: int, before: date) -> list[date]:
    """The last `count` calendar quarter ends strictly before `before`, oldest first."""
    ends: list[date] = []
    year, month = before.year, ((before.month - 1) // 3) * 3  # the quarter before this one ends in `month`
    while len(ends) < count:
        if month == 0:
            year, month = year - 1, 12
        last_day = 31 if month in (3, 12) else 30
        ends.append(date(year, month, last_day))
        month -= 3
    return sorted(ends)


#: the most points one backfill computes (ten years of months, thirty of quarters)
MAX_BACKFILL_POINTS = 120
_PERIOD = re.compile(r"^\s*(\d{1,3})\s*([my])\s*$", re.IGNORECASE)


def parse_period(text: str) -> int:
    """`--every` as a number of months: 1m, 2m, 3m, 4m, 6m (months that divide a year, so
    periods line up with it: 3m ends quarters, 6m half-years) or Ny (whole years)."""
    m = _PERIOD.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise UsageError(f"--every {text!r}: give a period such as 1m, 3m, 6m, 1y or 2y")
    n, unit = int(m.group(1)), m.group(2).lower()
    if unit == "y":
        return 12 * n
    if 12 % n:
        raise UsageError(f"--every {text}: months must divide a year (1m, 2m, 3m, 4m, 6m) so the "
                         "points line up with quarters and years; or give years (1y, 2y)")
    return n


def _month_end(year: int, month: int) -> date:
    import calendar

    return date(year, month, calendar.monthrange(year, month)[1])


def period_ends(months: int, since: date, until: date) -> list[date]:
    """The ends of the `months`-long periods on or after `since` and on or before `until`,
    oldest first, aligned on the calendar: every 3 months ends a quarter (Mar 31, Jun 30,
    Sep 30, Dec 31), 6 months a half-year, 12 a year; N years end on Dec 31 every N years
    counted back from the last year end on or before `until`."""
    if since > until:
        raise UsageError(f"--since {since} is after the last date to backfill ({until})")
    ends: list[date] = []
    if months % 12 == 0:
        year = until.year if until >= date(until.year, 12, 31) else until.year - 1
        while date(year, 12, 31) >= since:
            ends.append(date(year, 12, 31))
            year -= months // 12
            if len(ends) > MAX_BACKFILL_POINTS:
                break
    else:
        year, month = until.year, until.month
        while True:
            if month % months == 0:
                end = _month_end(year, month)
                if end < since:
                    break
                if end <= until:
                    ends.append(end)
                if len(ends) > MAX_BACKFILL_POINTS:
                    break
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    if len(ends) > MAX_BACKFILL_POINTS:
        raise UsageError(f"backfill from {since} to {until} every {months} month(s) gives more than "
                         f"{MAX_BACKFILL_POINTS} points; give a later --since or a longer --every")
    return sorted(ends)


def backfill(config: Any, store: Store, quarters: int | None = None, today: date | None = None,
             progress: Any = None, ends: list[date] | None = None) -> list[tuple[date, str | None]]:
    """One stored run per past quarter end (or per date of `ends`) not yet in the history (same
    config), oldest first. Returns (date, run id or None when already there)."""
    from mlaudit.engine import audit

    if config.git is None:
        raise UsageError("backfill reads the past from git: configure git repositories to scan")
    if ends is None:
        ends = quarter_ends(quarters or 4, today or datetime.now(UTC).date())
    fingerprint = config_fingerprint(config)
    have = {r.manifest.get("as_of") for r in store.runs()
            if r.manifest.get("backfilled") and r.manifest.get("config_fingerprint") == fingerprint}
    done: list[tuple[date, str | None]] = []
    for end in ends:
        if end.isoformat() in have:
            done.append((end, None))
            continue
        if progress:
            progress(f"backfilling {end.isoformat()}")
        # the same path as `scan --as-of END`: git at the last commit of that day, windows
        # ending then, sources that cannot show the date not read (their checks unknown)
        result = audit(dataclasses.replace(config, as_of=end), today=end)
        from mlaudit.teams import attach

        attach(result, config)
        rec = record(result, config, store, as_of=end)
        rec.save(result.report)
        done.append((end, rec.run_id))
    return done
