"""Reading a run's transaction log (`run-ID.wandb`), as `wandb.init` writes it in a run folder.

The file is a LevelDB-style log: a 7-byte header (`:W&B`, magic 0xBEE1, version 0), then 32 KiB
blocks of chunks, each with a 7-byte header (CRC-32 of type byte and data, length, type: full,
first, middle or last) — the framing of wandb's own `datastore` (wandb/sdk/internal/datastore.py
in the Python SDK, `store` in wandb-core). Each record is a `wandb.proto.wandb_internal_pb2.Record`
and is decoded by wandb's own protobuf classes. Read only; nothing is written beside the file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = struct.Struct("<4sHB")  # ident, magic, version
IDENT, MAGIC, VERSION = b":W&B", 0xBEE1, 0
CHUNK = struct.Struct("<IHB")  # crc32, length, type
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class RunLogError(ValueError):
    """The file is not a readable W&B run log; the message says where."""


@dataclass
class RunLog:
    """What one run's log says about it."""

    path: Path
    run_id: str = ""
    entity: str = ""
    project: str = ""
    name: str = ""
    job_type: str = ""
    commit: str = ""
    remote_url: str = ""
    started_at: str | None = None
    config_keys: list[str] = field(default_factory=list)
    history_steps: int = 0
    metrics: set[str] = field(default_factory=set)
    exit_code: int | None = None  # None: no exit record (still running, or killed)
    truncated: bool = False  # the last record was cut short (a run still writing)


def records(data: bytes, label: str) -> tuple[list[bytes], bool]:
    """The records of a log file's bytes, and whether the last one was cut short (a run still
    writing, or killed mid-write); a bad header or checksum is a RunLogError."""
    if len(data) < HEADER.size:
        raise RunLogError(f"{label}: too short to be a W&B run log")
    ident, magic, version = HEADER.unpack_from(data)
    if ident != IDENT or magic != MAGIC or version != VERSION:
        raise RunLogError(f"{label}: not a W&B run log (header {data[:HEADER.size]!r})")
    out: list[bytes] = []
    pending: bytes | None = None
    pos = HEADER.size
    while pos + CHUNK.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK.size:  # the block's tail is padding
            pos += left
            continue
        crc, length, kind = CHUNK.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero-filled rest of a block
            pos += left
            continue
        chunk = data[pos + CHUNK.size:pos + CHUNK.size + length]
        if len(chunk) < length:
            return out, True  # the writer has not finished this record
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            raise RunLogError(f"{label}: checksum mismatch at byte {pos}")
        pos += CHUNK.size + length
        if kind == FULL:
            out.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind in (MIDDLE, LAST) and pending is not None:
            pending += chunk
            if kind == LAST:
                out.append(pending)
                pending = None
        else:
            raise RunLogError(f"{label}: unexpected chunk type {kind} at byte {pos}")
    return out, pending is not None or any(data[pos:])


def read_run_log(path: Path) -> RunLog:
    """Decode a run's log with wandb's protobuf records."""
    from wandb.proto import wandb_internal_pb2 as pb

    log = RunLog(path)
    raw, log.truncated = records(path.read_bytes(), str(path))
    for blob in raw:
        record = pb.Record()
        try:
            record.ParseFromString(blob)
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise RunLogError(f"{path}: a record does not decode ({exc})") from None
        _apply(log, record)
    return log


def _apply(log: RunLog, record: Any) -> None:
    kind = record.WhichOneof("record_type")
    if kind == "run":
        run = record.run
        log.run_id, log.entity, log.project = run.run_id, run.entity, run.project
        log.name, log.job_type = run.display_name, run.job_type
        log.commit = run.git.commit or log.commit
        log.remote_url = run.git.remote_url or log.remote_url
        if run.HasField("start_time"):
            log.started_at = run.start_time.ToDatetime().isoformat() + "Z"
        log.config_keys = sorted(u.key for u in run.config.update if u.key and not u.key.startswith("_"))
    elif kind == "history":
        log.history_steps += 1
        for item in record.history.item:
            key = item.key or ".".join(item.nested_key)
            if key and not key.startswith("_"):
                log.metrics.add(key)
    elif kind == "config":
        keys = {u.key for u in record.config.update if u.key and not u.key.startswith("_")}
        log.config_keys = sorted(set(log.config_keys) | keys)
    elif kind == "environment" and record.environment.git.commit:
        log.commit = log.commit or record.environment.git.commit
    elif kind == "exit":
        log.exit_code = record.exit.exit_code


def summary_of(log: RunLog) -> dict[str, Any]:
    """The run's facts as evidence attributes (values of config and metrics are never kept)."""
    return {
        "run_id": log.run_id, "name": log.name or log.run_id, "job_type": log.job_type or None,
        "commit": log.commit[:12] or None, "has_commit": bool(log.commit),
        "remote_url": log.remote_url or None, "started_at": log.started_at,
        "history_steps": log.history_steps, "metrics": sorted(log.metrics)[:20],
        "config_keys": len(log.config_keys),
        "state": "finished" if log.exit_code == 0 else "failed" if log.exit_code
        else "running or killed", "source": "offline",
    }
