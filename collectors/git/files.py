"""File- and config-based detectors of the git collector.

`analyze_files` parses a repository's configuration once (`ConfigIndex`) and runs the detector
families over it: CI (`ci.py`), infrastructure (`infra.py`), ML platform config
(`mlconfig.py`), data tooling (`data.py`) and repository hygiene (`hygiene.py`). Items are then
capped: orgs have hundreds of repositories, so per signal and tool a repository keeps a few
samples, the most telling first, each carrying `occurrences` (how many were found).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mlaudit.collectors.git.ci import analyze_ci
from mlaudit.collectors.git.configs import ConfigIndex
from mlaudit.collectors.git.data import analyze_data
from mlaudit.collectors.git.hygiene import analyze_hygiene
from mlaudit.collectors.git.infra import analyze_infra
from mlaudit.collectors.git.mlconfig import analyze_mlconfig
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

MAX_SAMPLES = 3
ANALYZERS = (analyze_ci, analyze_infra, analyze_mlconfig, analyze_data, analyze_hygiene)


def analyze_files(view: RepoView) -> list[EvidenceItem]:
    """Evidence from the repository's files and configuration (not from Python code)."""
    index = ConfigIndex.build(view)
    items: list[EvidenceItem] = []
    for analyze in ANALYZERS:
        items.extend(analyze(view, index))
    return cap_samples(items)


def _weight(item: EvidenceItem) -> tuple[int, ...]:
    """Sort key: items that say more come first (ML steps, tests, ML resources, schedules)."""
    a: dict[str, Any] = item.attributes
    return (
        -int(bool(a.get("ml_steps"))),
        -int(bool(a.get("runs_tests"))),
        -int(bool(a.get("ml_resources"))),
        -int(bool(a.get("schedules") or a.get("schedule"))),
        -int(bool(a.get("lint"))),
    )


def cap_samples(items: list[EvidenceItem], limit: int = MAX_SAMPLES) -> list[EvidenceItem]:
    """At most `limit` items per (signal, tool or kind), each with `occurrences`; order kept."""
    groups: dict[tuple[str, str], list[EvidenceItem]] = {}
    seen: set[str] = set()
    for item in items:
        if item.locator + item.signal + str(item.attributes.get("tool")) in seen:
            continue  # the same fact found twice (e.g. a resource and its module)
        seen.add(item.locator + item.signal + str(item.attributes.get("tool")))
        key = (item.signal, str(item.attributes.get("tool") or item.attributes.get("kind") or ""))
        groups.setdefault(key, []).append(item)
    out: list[EvidenceItem] = []
    for group in groups.values():
        keep = sorted(group, key=_weight)[:limit]
        for item in keep:
            attrs = {**item.attributes, "occurrences": len(group)}
            out.append(dataclasses.replace(item, attributes=attrs))
    return out
