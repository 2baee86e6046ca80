"""GX documents (1.x JSON, 0.x JSON/YAML) reduced to the few facts the audit needs.

Each `parse_*` takes the stored text of one document and returns a small record, or raises
`DocumentError` with a reason fit for a warning. The fields read from each format are listed
in docs/gx.md; anything else in a document is ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import yaml

from mlaudit import safe_yaml

RUN_TIME_KEY_FORMAT = "%Y%m%dT%H%M%S.%fZ"
ALERT_WORDS = ("slack", "teams", "email", "sns", "opsgenie", "pagerduty", "notification", "alert")


class DocumentError(Exception):
    """One stored document that cannot be used."""


@dataclass
class Suite:
    name: str
    expectation_types: list[str]
    columns: list[str]

    @property
    def expectations(self) -> int:
        return len(self.expectation_types)


@dataclass
class ValidationDefinition:
    name: str
    id: str | None
    suite: str | None
    asset: str | None  # "datasource/asset"


@dataclass
class Checkpoint:
    name: str
    id: str | None
    validation_definitions: list[str] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    @property
    def alerting(self) -> bool:
        return any(w in a.lower() for a in self.actions for w in ALERT_WORDS)


@dataclass
class Result:
    """One stored validation result (one suite validated against one batch in one run)."""

    key: tuple[str, ...]
    suite: str
    run_time: datetime
    success: bool | None
    success_percent: float | None
    checkpoint: str | None  # a name (0.x) or, until resolved, a checkpoint id (1.x)
    validation_definition: str | None
    asset: str | None
    failing: list[tuple[str, str | None]] = field(default_factory=list)  # (type, column)


def _load_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DocumentError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise DocumentError("not a JSON object")
    return data


def _load_yaml(text: str) -> dict[str, Any]:
    try:
        data = safe_yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DocumentError(
            "not valid YAML" + (f" (line {mark.line + 1})" if mark else "")
        ) from None
    if not isinstance(data, dict):
        raise DocumentError("not a YAML mapping")
    return data


def columns_of(kwargs: Any) -> list[str]:
    if not isinstance(kwargs, dict):
        return []
    out = [kwargs.get(k) for k in ("column", "column_A", "column_B")]
    for k in ("column_list", "column_set"):
        if isinstance(kwargs.get(k), list | tuple):
            out.extend(kwargs[k])
    return [str(c) for c in out if isinstance(c, str | int) and not isinstance(c, bool)]


def _expectation_type(config: Any) -> str:
    if not isinstance(config, dict):
        return "?"
    return str(config.get("type") or config.get("expectation_type") or "?")


def _asset(datasource: Any, asset: Any) -> str | None:
    if not asset:
        return None
    return f"{datasource}/{asset}" if datasource else str(asset)


def parse_suite(text: str) -> Suite:
    data = _load_json(text)
    name = data.get("name") or data.get("expectation_suite_name")
    expectations = data.get("expectations")
    if not name or not isinstance(expectations, list):
        raise DocumentError("not an expectation suite (no name or expectations list)")
    types = [_expectation_type(e) for e in expectations]
    columns = sorted(
        {c for e in expectations if isinstance(e, dict) for c in columns_of(e.get("kwargs"))}
    )
    return Suite(name=str(name), expectation_types=types, columns=columns)


def parse_validation_definition(text: str) -> ValidationDefinition:
    data = _load_json(text)
    if not data.get("name"):
        raise DocumentError("not a validation definition (no name)")
    d = data.get("data") if isinstance(data.get("data"), dict) else {}
    ds = (d.get("datasource") or {}).get("name") if isinstance(d.get("datasource"), dict) else None
    asset = (d.get("asset") or {}).get("name") if isinstance(d.get("asset"), dict) else None
    suite = data.get("suite")
    return ValidationDefinition(
        name=str(data["name"]),
        id=data.get("id"),
        suite=str(suite.get("name")) if isinstance(suite, dict) and suite.get("name") else None,
        asset=_asset(ds, asset),
    )


def parse_checkpoint(text: str, vds: dict[str, ValidationDefinition]) -> Checkpoint:
    """A GX 1.x checkpoint (JSON); `vds` maps validation-definition ids and names to records."""
    data = _load_json(text)
    if not data.get("name"):
        raise DocumentError("not a checkpoint (no name)")
    cp = Checkpoint(name=str(data["name"]), id=data.get("id"))
    for ref in data.get("validation_definitions") or []:
        if not isinstance(ref, dict):
            continue
        vd = vds.get(str(ref.get("id"))) or vds.get(str(ref.get("name")))
        cp.validation_definitions.append(str(ref.get("name") or (vd.name if vd else ref.get("id"))))
        if vd and vd.suite:
            cp.suites.append(vd.suite)
        if vd and vd.asset:
            cp.assets.append(vd.asset)
    cp.actions = [
        str(a.get("type") or a.get("name") or "?")
        for a in data.get("actions") or []
        if isinstance(a, dict)
    ]
    return cp


def parse_legacy_checkpoint(text: str) -> Checkpoint:
    """A GX 0.x checkpoint (YAML, config_version 1.0): validations and action_list."""
    data = _load_yaml(text)
    if not data.get("name"):
        raise DocumentError("not a checkpoint (no name)")
    cp = Checkpoint(name=str(data["name"]), id=data.get("ge_cloud_id"))
    default_suite = data.get("expectation_suite_name")
    default_request = (
        data.get("batch_request") if isinstance(data.get("batch_request"), dict) else {}
    )
    validations = data.get("validations") or ([{}] if default_suite else [])
    for v in validations:
        if not isinstance(v, dict):
            continue
        suite = v.get("expectation_suite_name") or default_suite
        request = (
            v.get("batch_request") if isinstance(v.get("batch_request"), dict) else default_request
        )
        if suite:
            cp.suites.append(str(suite))
        asset = _asset(request.get("datasource_name"), request.get("data_asset_name"))
        if asset:
            cp.assets.append(asset)
    for a in data.get("action_list") or []:
        if isinstance(a, dict):
            action = a.get("action") if isinstance(a.get("action"), dict) else {}
            cp.actions.append(str(action.get("class_name") or a.get("name") or "?"))
    return cp


def run_time_of_key(key: tuple[str, ...]) -> datetime | None:
    """The run time a validation-result key carries (`…/run_name/YYYYmmddTHHMMSS.ffffffZ/batch`)."""
    if len(key) < 4:
        return None
    return _key_time(key[-2])


@lru_cache(maxsize=65536)
def _key_time(text: str) -> datetime | None:
    # the fixed layout GX writes, sliced (strptime is the slow part of listing thousands)
    if len(text) == 23 and text[8] == "T" and text[15] == "." and text[22] == "Z":
        try:
            return datetime(
                int(text[0:4]),
                int(text[4:6]),
                int(text[6:8]),
                int(text[9:11]),
                int(text[11:13]),
                int(text[13:15]),
                int(text[16:22]),
                tzinfo=UTC,
            )
        except ValueError:
            return None
    try:
        return datetime.strptime(text, RUN_TIME_KEY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def suite_of_key(key: tuple[str, ...]) -> str:
    return ".".join(key[:-3]) if len(key) >= 4 else key[0]


def parse_result(key: tuple[str, ...], text: str) -> Result:
    """A stored suite validation result, 1.x or 0.x (same envelope; meta fields differ)."""
    data = _load_json(text)
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    if "results" not in data and "statistics" not in data:
        raise DocumentError("not a validation result (no results or statistics)")
    run_time = run_time_of_key(key) or _iso(
        ((meta.get("run_id") or {}) if isinstance(meta.get("run_id"), dict) else {}).get("run_time")
    )
    if run_time is None:
        raise DocumentError("no run time in its key or meta.run_id")
    stats = data.get("statistics") if isinstance(data.get("statistics"), dict) else {}
    percent = stats.get("success_percent")
    batch = (
        meta.get("active_batch_definition")
        if isinstance(meta.get("active_batch_definition"), dict)
        else {}
    )
    failing = []
    for r in data.get("results") or []:
        if isinstance(r, dict) and r.get("success") is False:
            config = r.get("expectation_config") or {}
            cols = columns_of(config.get("kwargs") if isinstance(config, dict) else None)
            failing.append((_expectation_type(config), cols[0] if cols else None))
    success = data.get("success")
    return Result(
        key=key,
        suite=str(
            data.get("suite_name") or meta.get("expectation_suite_name") or suite_of_key(key)
        ),
        run_time=run_time,
        success=success if isinstance(success, bool) else None,
        success_percent=float(percent) if isinstance(percent, int | float) else None,
        checkpoint=meta.get("checkpoint_name") or meta.get("checkpoint_id"),
        validation_definition=meta.get("validation_id"),
        asset=_asset(batch.get("datasource_name"), batch.get("data_asset_name")),
        failing=failing,
    )


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
