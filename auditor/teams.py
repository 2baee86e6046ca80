"""Teams: which repositories, MLflow experiments/models and AWS accounts belong to whom, and each
team's level per dimension (scored on its own evidence alone).

Teams come from the config (`teams:` — name → glob patterns per source) or from the repositories'
CODEOWNERS (`teams: codeowners`: a repository belongs to the first `@org/team` its CODEOWNERS
names). A team is scored by replaying the run's collectors with only that team's evidence: a
source the team maps nothing of is left out (its checks are unknown for the team, never failed).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from mlaudit.errors import UsageError

#: config key per collector name
SOURCE_KEYS = {"git": "repositories", "mlflow": "mlflow", "aws": "aws_accounts"}
CODEOWNERS = "codeowners"


@dataclass
class Team:
    name: str
    patterns: dict[str, list[str]] = field(default_factory=dict)  # collector name -> globs
    source: str = "config"

    def owns(self, collector: str, item: dict[str, Any] | Any) -> bool:
        globs = self.patterns.get(collector)
        if not globs:
            return False
        subject = item["subject"] if isinstance(item, dict) else item.subject
        locator = item["locator"] if isinstance(item, dict) else item.locator
        return any(fnmatch.fnmatchcase(subject, g) or fnmatch.fnmatchcase(locator, g) for g in globs)

    def owns_target(self, collector: str, target: dict[str, Any]) -> bool:
        return any(fnmatch.fnmatchcase(str(target.get("name", "")), g) for g in self.patterns.get(collector, []))


def parse_teams(raw: Any) -> list[Team] | str | None:
    """The config's `teams:` value: `codeowners`, or a mapping of team name to patterns."""
    if raw is None:
        return None
    if raw == CODEOWNERS:
        return CODEOWNERS
    return [Team(name, {c: list(spec.get(key, [])) for c, key in SOURCE_KEYS.items() if spec.get(key)})
            for name, spec in raw.items()]


def resolve(spec: list[Team] | str | None, runs: list[Any]) -> list[Team]:
    """The teams of a run: as configured, or derived from each repository's CODEOWNERS."""
    if spec is None:
        return []
    if spec != CODEOWNERS:
        return list(spec)  # type: ignore[arg-type]
    owners: dict[str, list[str]] = {}
    for run in runs:
        if run.collector.name != "git":
            continue
        for item in run.result.evidence:
            if item.signal == "code_ownership" and item.attributes.get("teams"):
                team = item.attributes["teams"][0]
                if item.subject not in owners.setdefault(team, []):
                    owners[team].append(item.subject)
    return [Team(name, {"git": sorted(repos)}, source="codeowners") for name, repos in sorted(owners.items())]


def team_runs(team: Team, runs: list[Any]) -> list[Any]:
    """The run's collector runs narrowed to what `team` owns; sources it maps nothing of are
    dropped (not configured for the team)."""
    from mlaudit.collectors.base import CollectorResult
    from mlaudit.engine import CollectorRun

    out = []
    for run in runs:
        name = run.collector.name
        if name not in team.patterns:
            continue
        r = run.result
        result = CollectorResult(
            evidence=[e for e in r.evidence if team.owns(name, e)],
            targets=[t for t in r.targets if team.owns_target(name, t)] or ([] if name == "git" else r.targets),
            errors=[e for e in r.errors if any(fnmatch.fnmatchcase(e.target, g) for g in team.patterns[name])],
            warnings=list(r.warnings),
            gaps=dict(r.gaps),
        )
        out.append(CollectorRun(run.collector, status=run.status, result=result, error=run.error,
                                duration_s=run.duration_s))
    return out


def score_team(team: Team, result: Any, config: Any) -> Any:
    """The audit of one team's evidence alone (nothing is read again)."""
    from mlaudit.engine import audit

    return audit(config, runs=team_runs(team, result.runs))


def team_section(result: Any, config: Any, teams: list[Team]) -> list[dict[str, Any]]:
    """The report's `teams`: per team its level, each dimension's level and its top next step."""
    from mlaudit.history import dimension_levels

    out = []
    for team in teams:
        scored = score_team(team, result, config).report
        summary = scored["summary"]
        step = scored["next_steps"][0] if scored["next_steps"] else None
        out.append({
            "name": team.name,
            "source": team.source,
            "repositories": sorted({t["name"] for c in scored["collectors"] if c["name"] == "git"
                                    for t in c["targets"]}),
            "sources": sorted(team.patterns),
            "level": summary["overall"]["level"],
            "dimensions": dimension_levels(summary),
            "next_step": {k: step[k] for k in ("check_id", "title", "reason")} if step else None,
        })
    return out


def attach(result: Any, config: Any, team_name: str | None = None) -> None:
    """Scope the run to one team (`--team`) and add the team matrix to the report, in place."""
    spec = getattr(config, "teams", None) or (CODEOWNERS if team_name else None)
    teams = resolve(spec, result.runs)
    if team_name is not None:
        chosen = next((t for t in teams if t.name == team_name), None)
        if chosen is None:
            known = ", ".join(t.name for t in teams) or "none configured (`teams:` in the config)"
            raise UsageError(f"--team: no team named {team_name!r} (teams: {known})")
        scoped = score_team(chosen, result, config)
        scoped.report["run"] |= {k: result.report["run"][k] for k in ("config_file", "scan_path")}
        scoped.report["run"]["team"] = team_name
        result.report, result.findings, result.exit_code, result.runs = (
            scoped.report, scoped.findings, scoped.exit_code, scoped.runs)
        teams = [chosen]
    if teams:
        result.report["teams"] = team_section(result, config, teams)


def team_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Level changes per team between two reports (teams in either)."""
    a = {t["name"]: t for t in before.get("teams") or []}
    b = {t["name"]: t for t in after.get("teams") or []}
    out = []
    for name in sorted(set(a) | set(b)):
        ta, tb = a.get(name), b.get(name)
        dims = {d: {"from": (ta or {}).get("dimensions", {}).get(d), "to": (tb or {}).get("dimensions", {}).get(d)}
                for d in sorted(set((ta or {}).get("dimensions", {})) | set((tb or {}).get("dimensions", {})))}
        out.append({"name": name, "from": ta["level"] if ta else None, "to": tb["level"] if tb else None,
                    "dimensions": {d: v for d, v in dims.items() if v["from"] != v["to"]},
                    "status": "added" if ta is None else "removed" if tb is None else "kept"})
    return out
