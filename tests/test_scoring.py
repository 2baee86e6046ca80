"""Scoring: the level walk, overall level, confidence and next steps."""

from __future__ import annotations

import json

import pytest

from mlaudit.checks import CheckContext, load_definitions, run_checks
from mlaudit.checks.base import CheckDef
from mlaudit.evidence import EvidenceItem, Finding, Outcome, Provenance
from mlaudit.scoring import next_steps, score

P, H, F, U, W = Outcome.PASS, Outcome.PARTIAL, Outcome.FAIL, Outcome.UNKNOWN, Outcome.WAIVED


def d(check_id: str, dim: str = "technical", collectors=("G",), survey=()) -> CheckDef:
    return CheckDef(
        check_id,
        int(check_id[1]),
        dim,
        f"title of {check_id}",
        "criterion",
        tuple(collectors),
        f"fix {check_id}",
        f"framework for {check_id}",
        ("SEED",),
        tuple(survey),
    )


def f(
    check_id: str,
    outcome: Outcome,
    provenance: Provenance = Provenance.OBSERVED,
    missing: list[str] | None = None,
) -> Finding:
    item = EvidenceItem("x", "sig", f"loc:{check_id}", "subj", provenance)
    evidence = [] if outcome in (U, W) else [item]
    return Finding(
        check_id, outcome, f"{check_id} is {outcome}. More detail.", evidence, missing=missing or []
    )


def walk(outcomes: dict[str, Outcome], dim: str = "technical", threshold: float = 0.8) -> dict:
    defs = [d(c, dim) for c in outcomes]
    return score([f(c, o) for c, o in outcomes.items()], defs, threshold)["dimensions"][dim]


def statuses(entry: dict) -> list[str]:
    return [lv["status"] for lv in entry["levels"]]


# ------------------------------------------------------------------------------ the walk
def test_all_achieved_gives_level_five():
    t = walk({"L1.a": P, "L2.a": P, "L3.a": P, "L4.a": P, "L5.a": P})
    assert t["level"] == 5 and t["assessed"] and t["stopped_at"] is None
    assert t["explanation"] == "technical: level 5; every level achieved"


def test_vacuous_levels_count_below_evidence_but_prove_nothing_on_top():
    t = walk({"L1.a": P, "L3.a": P})
    assert statuses(t) == ["achieved", "vacuous", "achieved", "vacuous", "vacuous"]
    # level 2 has no checks: it counts on the way to level 3; levels 4 and 5 prove nothing
    assert t["level"] == 3 and t["assumptions"] == []
    assert t["explanation"] == "technical: level 3"


def test_not_achieved_stops_the_walk_and_names_blockers():
    t = walk({"L1.a": P, "L2.a": P, "L2.b": F, "L3.a": P})
    assert t["level"] == 1
    assert t["stopped_at"] == 2 and t["stop_reason"] == "not_achieved"
    assert statuses(t) == ["achieved", "not_achieved", "not_reached", "not_reached", "not_reached"]
    lv2 = t["levels"][1]
    assert lv2["score"] == 0.5 and lv2["blocking"] == ["L2.b"] and lv2["passing"] == ["L2.a"]
    assert (
        "level 2 not achieved" in t["explanation"] and "L2.b fail: L2.b is fail" in t["explanation"]
    )


def test_level_one_not_achieved_is_getting_started_with_its_practices_not_in_place():
    """The framework has five levels and every organisation begins at the first (a strategy
    and a data audit come before any ML code): a walk that stops at level 1 is level 1, and says
    that level 1's own practices are not in place yet."""
    t = walk({"L1.a": F, "L2.a": P})
    assert t["level"] == 1 and t["name"] == "Getting Started" and t["assessed"]
    assert t["stopped_at"] == 1 and statuses(t)[:2] == ["not_achieved", "not_reached"]
    assert "level 1's practices not in place yet (score 0.00 < 0.80) — L1.a fail" in t["explanation"]
    assert "level 1 not achieved" not in t["explanation"]
    # achieved, it reads as any other level
    achieved = walk({"L1.a": P, "L2.a": F})
    assert achieved["level"] == 1 and achieved["stopped_at"] == 2
    assert "level 2 not achieved" in achieved["explanation"]


def test_partial_counts_half_and_threshold_is_configurable():
    outcomes = {"L1.a": P, "L2.a": P, "L2.b": H}  # level 2 scores 0.75
    assert walk(outcomes)["level"] == 1
    assert walk(outcomes, threshold=0.75)["level"] == 2
    assert (
        walk({"L1.a": P, "L2.a": P, "L2.b": P, "L2.c": P, "L2.d": P, "L2.e": F})["level"] == 2
    )  # 0.8 reaches 0.8
    assert walk({"L1.a": P, "L2.a": P, "L2.b": P, "L2.c": F}, threshold=0.6)["level"] == 2  # 0.67 >= 0.6


def test_unassessed_levels_do_not_stop_the_walk_and_are_named_as_assumptions():
    t = walk({"L1.a": U, "L2.a": U, "L3.a": P, "L4.a": F})
    assert statuses(t) == ["not_assessed", "not_assessed", "achieved", "not_achieved", "not_reached"]
    assert t["level"] == 3 and t["assessed"] and t["assumptions"] == [1, 2]
    assert "levels 1, 2 not assessed" in t["explanation"]
    # one assessed check is enough to judge a level; unknowns beside it never lower it
    t = walk({"L1.a": P, "L2.a": P, "L2.b": U, "L2.c": U, "L3.a": P})
    assert t["level"] == 3 and t["stopped_at"] is None
    # a run of unassessed levels on top proves nothing
    t = walk({"L1.a": P, "L2.a": P, "L3.a": U, "L4.a": U})
    assert t["level"] == 2 and "evidence ends at level 2" in t["explanation"]


def repo_walk(outcomes: dict[str, Outcome], threshold: float = 0.7) -> dict:
    """A repository's own walk (`score_repositories` walks so), over the given outcomes."""
    from mlaudit.scoring import _walk

    defs = [d(c) for c in outcomes]
    return _walk("repo", defs, {c: f(c, o) for c, o in outcomes.items()}, threshold, implied=True)


def test_in_a_repository_an_unassessed_level_is_implied_by_the_half_met_level_above_it():
    """Higher practices imply their basics, level by level, in a repository's walk: level 1
    achieved, level 2 with no check assessed, level 3 scoring at least half the threshold (its
    practices half in place) gives level 2, named as an assumption and saying why."""
    outcomes = {"L1.a": P, "L2.a": U, "L2.b": U, "L3.a": P, "L3.b": F}  # level 3 at 0.5
    t = repo_walk(outcomes)
    assert statuses(t)[:3] == ["achieved", "not_assessed", "not_achieved"]
    assert t["level"] == 2 and t["assumptions"] == [2] and t["stopped_at"] == 3
    assert "level 3 not achieved (score 0.50 < 0.70)" in t["explanation"]
    assert "level 2 not assessed, taken as reached for level 3's practices in place (score 0.50)" in t["explanation"]
    # an organisation's dimension is not walked so (its level-3 checks include organisation-wide
    # ones that a few scripts on one library pass)
    org = walk(outcomes, threshold=0.7)
    assert org["level"] == 1 and org["assumptions"] == [] and "taken as reached" not in org["explanation"]
    # exactly half of the threshold is enough; less is a stray partial and proves nothing
    assert repo_walk({"L1.a": P, "L2.a": U, "L3.a": H, "L3.b": P, "L3.c": F, "L3.d": F},
                     threshold=0.75)["level"] == 2  # 0.375 = 0.75 / 2
    stray = repo_walk({"L1.a": P, "L2.a": U, "L3.a": H, "L3.b": F, "L3.c": F})  # 0.17
    assert stray["level"] == 1 and stray["assumptions"] == [] and "taken as reached" not in stray["explanation"]
    # only the one level between a level achieved on evidence and the stop
    assert repo_walk({"L1.a": P, "L2.a": U, "L3.a": U, "L4.a": P, "L4.b": F})["level"] == 1
    assessed_between = repo_walk({"L1.a": P, "L2.a": F, "L3.a": P})
    assert assessed_between["level"] == 1 and assessed_between["stopped_at"] == 2
    # nothing achieved on evidence below: not assessed
    nothing_below = repo_walk({"L1.a": U, "L2.a": U, "L3.a": P, "L3.b": F})
    assert nothing_below["level"] is None and not nothing_below["assessed"]


def test_cumulative_walk_scores_all_levels_up_to_each():
    outcomes = {"L1.a": P, "L1.b": P, "L2.a": F, "L2.b": P}
    assert walk(outcomes, threshold=0.7)["level"] == 1  # level 2 alone scores 0.5
    defs = [d(c) for c in outcomes]
    found = [f(c, o) for c, o in outcomes.items()]
    cumulative = score(found, defs, 0.7, walk="cumulative")["dimensions"]["technical"]
    assert cumulative["level"] == 2 and cumulative["levels"][1]["score"] == 0.75
    with pytest.raises(ValueError):
        score(found, defs, walk="sideways")


def test_unknowns_are_left_out_of_the_score():
    t = walk({"L1.a": P, "L1.b": U})
    assert t["levels"][0]["score"] == 1.0 and t["levels"][0]["assessed"] == 1


def test_waived_checks_are_neither_scored_nor_missing():
    t = walk({"L1.a": P, "L1.b": W, "L1.c": W})
    assert t["levels"][0]["status"] == "achieved" and t["levels"][0]["score"] == 1.0
    t = walk({"L1.a": W, "L2.a": P})
    assert t["levels"][0]["status"] == "vacuous"


def test_dimension_not_assessed_when_evidence_ends_before_any_level_with_checks():
    # vacuous level 1 does not make a dimension assessed
    t = walk({"L2.a": U, "L3.a": U}, dim="organizational")
    assert not t["assessed"] and t["level"] is None and t["name"] == "Not assessed"
    assert t["explanation"].startswith("organizational: not assessed")
    # a level not achieved above unassessed ones says nothing about the levels below it
    t = walk({"L1.a": U, "L2.a": F})
    assert t["level"] is None and not t["assessed"] and "level 2 not achieved" in t["explanation"]


def test_explanation_names_what_would_assess_it():
    defs = [
        d("L1.a", "organizational", ("G",)),
        d("L2.a", "organizational", ("S", "G"), ("S5",)),
        d("L2.b", "organizational", ("S",), ("S8",)),
    ]
    findings = [
        f("L1.a", P),
        f("L2.a", U, missing=["answer survey question S5"]),
        f("L2.b", U, missing=["answer survey question S8"]),
    ]
    t = score(findings, defs)["dimensions"]["organizational"]
    assert t["explanation"] == (
        "organizational: level 1; evidence ends at level 1; level 2 not assessed — "
        "answer the survey (S5, S8)"
    )


# ------------------------------------------------------------------------------ overall
def _org(technical: dict, process: dict, product: dict, organizational: dict):
    defs, findings = [], []
    for dim, outcomes in (
        ("technical", technical),
        ("process", process),
        ("product", product),
        ("organizational", organizational),
    ):
        for c, o in outcomes.items():
            cid = f"{c}-{dim}"
            survey_only = dim in ("product", "organizational")
            defs.append(
                d(cid, dim, ("S",) if survey_only else ("G",), ("S1",) if survey_only else ())
            )
            findings.append(f(cid, o))
    return findings, defs


def test_overall_is_the_weakest_assessed_dimension_and_names_the_rest():
    findings, defs = _org(
        {"L1.a": P, "L2.a": P, "L3.a": F},
        {"L1.a": P, "L2.a": P, "L3.a": P, "L4.a": F},
        {"L1.a": U},
        {"L2.a": U},
    )
    s = score(findings, defs)
    o = s["overall"]
    assert o["level"] == 2 and o["name"] == "Exploring"
    assert o["assessed_dimensions"] == ["process", "technical"]
    assert o["not_assessed"] == ["product", "organizational"]
    assert o["statement"] == (
        "Level 2 on technical and process evidence; "
        "product and organizational not assessed (no survey)"
    )


def test_statement_without_no_survey_when_other_sources_are_missing():
    defs = [d("L1.a", "technical"), d("L1.b", "process", ("M",))]
    s = score([f("L1.a", P), f("L1.b", U)], defs)
    assert s["overall"]["statement"] == (
        "Level 1 on technical evidence; product, process and "
        "organizational not assessed (insufficient evidence)"
    )


def test_no_assessed_dimension_gives_no_level_never_zero():
    s = score([f("L1.a", U)], [d("L1.a")])
    assert s["overall"]["level"] is None and s["overall"]["assessed_dimensions"] == []
    assert s["overall"]["name"] == "Not assessed" and not s["overall"]["assessed"]
    assert s["overall"]["statement"].startswith("No level")


def test_missing_findings_count_as_unknown_and_bad_thresholds_are_refused():
    s = score([], [d("L1.a")])
    assert s["counts"]["unknown"] == 1 and s["confidence"]["assessed"] == 0
    with pytest.raises(ValueError):
        score([], [d("L1.a")], threshold=0)


def test_confidence_and_counts():
    defs = [d("L1.a"), d("L1.b"), d("L1.c", "product", ("S",), ("S1",)), d("L1.d"), d("L1.e")]
    findings = [
        f("L1.a", P),
        f("L1.b", H),
        f("L1.c", F, Provenance.SELF_REPORTED),
        f("L1.d", U),
        f("L1.e", W),
    ]
    s = score(findings, defs)
    assert s["confidence"] == {
        "checks": 4,
        "assessed": 3,
        "observed": 2,
        "inferred": 0,
        "self_reported": 1,
        "share_assessed": 0.75,
        "share_observed": 0.5,
        "share_inferred": 0.0,
        "share_self_reported": 0.25,
    }
    assert s["counts"] == {"pass": 1, "partial": 1, "fail": 1, "unknown": 1, "waived": 1}
    assert s["dimensions"]["product"]["confidence"]["self_reported"] == 1
    json.dumps(s)  # JSON-ready


# ------------------------------------------------------------------------------ next steps
def test_next_steps_order_weakest_dimension_first_then_others_then_unknowns():
    defs = [
        d("L1.t", "technical"),
        d("L2.t1", "technical"),
        d("L2.t2", "technical"),
        d("L1.p", "process"),
        d("L2.p", "process"),
        d("L3.p1", "process"),
        d("L3.p2", "process"),
        d("L1.o", "organizational", ("S",), ("S5",)),
        d("L4.t", "technical", ("M",)),
    ]
    findings = [
        f("L1.t", P),
        f("L2.t1", H),
        f("L2.t2", F),
        f("L1.p", P),
        f("L2.p", P),
        f("L3.p1", F),
        f("L3.p2", P),
        f("L1.o", U, missing=["answer survey question S5"]),
        f("L4.t", U),
    ]
    s = score(findings, defs)
    assert s["overall"]["level"] == 1  # technical 1, process 2
    steps = next_steps(findings, defs, s)
    assert [x["check_id"] for x in steps] == ["L2.t2", "L2.t1", "L3.p1", "L1.o"]
    first = steps[0]
    assert first["remediation"] == "fix L2.t2" and first["framework"] == "framework for L2.t2"
    assert first["dimension"] == "technical" and first["level"] == 2 and first["outcome"] == "fail"
    assert first["assess_with"] == [] and steps[-1]["assess_with"] == ["answer survey question S5"]
    assert next_steps(findings, defs, s, limit=2) == steps[:2]
    assert next_steps(list(reversed(findings)), list(reversed(defs)), s) == steps  # deterministic


# ------------------------------------------------------------------------------ the git-only case
def ev(signal, subject, **attributes):
    return EvidenceItem(
        "git", signal, f"{subject}:{signal}@0123456789ab", subject, attributes=attributes
    )


def git_only_estate() -> list[EvidenceItem]:
    items = [
        ev("data_audit", "churn", kind="data dictionary"),
        ev("data_pipeline", "churn", tool="dbt"),
        ev(
            "infrastructure_as_code",
            "churn",
            tool="terraform",
            ml_resources=["aws_sagemaker_model"],
        ),
    ]
    for name, people in (("churn", ["h1", "h2"]), ("ranker", ["h2", "h3"])):
        items += [
            ev("repository", name, is_ml=True, primary_language="Python"),
            ev("ci_pipeline", name, runs_tests=True),
            ev("ml_tests", name),
            ev("code_ownership", name, teams=["@org/ml"]),
            ev("dependency_pinning", name, pinned=True),
            ev("containerization", name, kind="dockerfile"),
            ev("experiment_tracking", name, tool="mlflow"),
            ev("ml_frameworks", name, frameworks={"sklearn": "imported"}),
            ev("data_validation", name, tool="pandera"),
            ev("training_infra", name, tool="sagemaker"),
            ev("team_activity", name, contributor_ids=people, merge_share=0.9, window_days=180),
        ]
    return items


def test_git_only_scan_gives_an_honest_technical_and_process_level():
    defs = load_definitions()
    findings = run_checks(CheckContext(evidence=git_only_estate(), available={"G"}))
    s = score(findings, defs)
    dims = s["dimensions"]
    assert dims["technical"]["assessed"] and dims["process"]["assessed"]
    assert not dims["product"]["assessed"]
    # tracking code with no tracker read is tracking; git's silence on registries, monitoring,
    # catalogues and feature stores proves nothing, so the walk reaches level 3 on evidence
    assert dims["technical"]["level"] == 3 and dims["technical"]["stopped_at"] == 4
    assert "L4.orchestration fail" in dims["technical"]["explanation"]
    assert dims["process"]["level"] == 3 and dims["process"]["stopped_at"] == 4
    assert "L4.scheduled-retraining fail" in dims["process"]["explanation"]
    assert dims["organizational"]["level"] == 2 and dims["organizational"]["assumptions"] == []
    assert s["overall"]["level"] == 2
    assert "product not assessed (no survey)" in s["overall"]["statement"]
    assert s["confidence"]["self_reported"] == 0 and 0 < s["confidence"]["share_assessed"] < 1
    steps = next_steps(findings, defs, s)
    assert steps[0]["check_id"] == "L5.notebook-repository"  # what holds organizational at 2
    assert any(
        x["outcome"] == "unknown" and "answer survey question S1" in x["assess_with"] for x in steps
    )


def test_git_only_with_a_tracker_reaches_level_two():
    runs = EvidenceItem(
        "mlflow",
        "experiment_runs",
        "mlflow:/#/experiments/1",
        "mlflow",
        attributes={"experiment": "churn", "runs_in_window": 40},
    )
    findings = run_checks(CheckContext(evidence=[*git_only_estate(), runs], available={"G", "M"}))
    s = score(findings, load_definitions())
    assert s["dimensions"]["technical"]["level"] >= 2
    assert s["overall"]["level"] == 2


# ------------------------------------------------------------------------------ kept levels
@pytest.fixture(scope="module")
def org_evidence(example_org) -> list[EvidenceItem]:
    """The git evidence of the example organisation, read once."""
    import os

    from mlaudit.config import default_config
    from mlaudit.engine import _check_context, _collect, build_collectors

    os.environ.setdefault("MLAUDIT_SCAN_CACHE", "off")
    config = default_config(example_org)
    config.gx = []
    config.mlflow = None
    runs = _collect(config, build_collectors(config))
    return [e for e in _check_context(runs, config).evidence if e.collector == "git"]


def test_kept_repository_levels_are_the_computed_ones_and_any_input_change_recomputes(
        org_evidence, tmp_path, monkeypatch) -> None:
    """Repository levels kept between runs (auditor/scorememo.py) are exactly what scoring
    computes; a repository whose evidence changed, a changed threshold, definition or scoring
    code recompute, and a corrupt memo file is an empty memo."""
    import dataclasses

    from mlaudit import scorememo
    from mlaudit.scorememo import ScoreMemo
    from mlaudit.scoring import score_repositories

    defs = load_definitions()
    plain = score_repositories(org_evidence, defs)
    names = sorted(r["name"] for r in plain)
    assert len(names) >= 3
    path = tmp_path / "scores.json"

    def run(evidence, defs=defs, threshold=0.7):
        memo = ScoreMemo(path)
        out = score_repositories(evidence, defs, threshold=threshold, memo=memo)
        return out, memo.hits, memo.misses

    first, hits, misses = run(org_evidence)
    assert first == plain and (hits, misses) == (0, len(names)) and path.is_file()
    again, hits, misses = run(org_evidence)
    assert again == plain and (hits, misses) == (len(names), 0)
    # observed again later (a re-scan observes team activity anew): still kept
    later = [dataclasses.replace(e, observed_at="2031-01-01T00:00:00Z") for e in org_evidence]
    assert run(later)[1:] == (len(names), 0)
    assert json.dumps(again, sort_keys=True) == json.dumps(plain, sort_keys=True)

    # one repository's evidence changes: it alone is computed, as scoring computes it
    target = names[0]
    changed = [dataclasses.replace(e, attributes={**e.attributes, "runs_tests": not e.attributes.get("runs_tests")})
               if e.subject == target and e.signal == "ci_pipeline" else e for e in org_evidence]
    if changed == org_evidence:  # no CI in that repository: take away its tests instead
        changed = [e for e in org_evidence if not (e.subject == target and e.signal == "automated_tests")]
    assert changed != org_evidence
    out, hits, misses = run(changed)
    assert out == score_repositories(changed, defs) and (hits, misses) == (len(names) - 1, 1)

    # the threshold, a definition, the scoring code: everything is computed again
    out, hits, misses = run(org_evidence, threshold=0.5)
    assert out == score_repositories(org_evidence, defs, threshold=0.5) and hits == 0
    moved = [dataclasses.replace(x, level=5) if x.id == "L3.ci-tests" else x for x in defs]
    out, hits, misses = run(org_evidence, defs=moved)
    assert out == score_repositories(org_evidence, moved) and hits == 0
    monkeypatch.setattr(scorememo, "scoring_version", lambda: "another")
    out, hits, misses = run(org_evidence)
    assert out == plain and hits == 0
    monkeypatch.undo()

    path.write_text("{not json")
    out, hits, misses = run(org_evidence)
    assert out == plain and hits == 0

    # bounded: this run's entries first, then the others up to the cap
    monkeypatch.setattr(scorememo, "MAX_ENTRIES", 5)
    stale = {f"old-{i}": {"name": f"gone-{i}"} for i in range(20)}
    data = json.loads(path.read_text())
    data["entries"] = {**stale, **data["entries"]}
    path.write_text(json.dumps(data))
    memo = ScoreMemo(path)
    score_repositories(changed, defs, memo=memo)  # one new entry: the file is written again
    kept = json.loads(path.read_text())["entries"]
    assert len(kept) == max(5, 2 * len(names)) and all(memo.key(
        [e for e in changed if e.collector == "git" and e.subject == n]) in kept for n in names)


def test_a_rescan_keeps_repository_levels_when_the_cache_is_on(example_org, tmp_path) -> None:
    """End to end: the second scan of an unchanged estate says it kept every repository's level,
    and its report's repositories are the first scan's; with --no-cache nothing is kept."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MLAUDIT_CONFIG", "MLFLOW_TRACKING_URI")}
    env.update(MLAUDIT_SCAN_CACHE="on", HOME=str(tmp_path / "home"))
    reports = []
    for i in range(2):
        proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "-v", "scan", str(example_org), "--out",
                               str(tmp_path / f"r{i}")], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        reports.append((proc.stderr, json.loads((tmp_path / f"r{i}" / "report.json").read_text())))
    assert "repository levels: 0 of 3 kept" in reports[0][0]
    assert "repository levels: 3 of 3 kept from an earlier run" in reports[1][0]
    assert reports[0][1]["repositories"] == reports[1][1]["repositories"]
    assert reports[0][1]["summary"] == reports[1][1]["summary"]
    off = subprocess.run([sys.executable, "-m", "mlaudit.cli", "-v", "scan", str(example_org), "--out",
                          str(tmp_path / "off"), "--no-cache"], capture_output=True, text=True, env=env, timeout=300)
    assert off.returncode == 0 and "repository levels:" not in off.stderr
