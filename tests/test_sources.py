"""The source registry, and the walkthrough of docs/architecture.md: a new source is one folder
plus one registry entry, a new check one rubric entry plus one evaluator — done here for real, with
a toy source package written to a temporary folder and audited by the engine."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from mlaudit import sources
from mlaudit.checks import load_definitions, run_checks
from mlaudit.checks.base import EVALUATORS, CheckContext, Verdict, evaluator
from mlaudit.checks.definitions import RUBRIC_PATH, check_registry, parse_definitions
from mlaudit.config import config_schema, parse_config
from mlaudit.engine import audit, build_collectors
from mlaudit.errors import ConfigError
from mlaudit.evidence import Outcome
from mlaudit.sources import SOURCES, Source, register

BUILT_IN = ("git", "mlflow", "aws", "gx", "survey")


def test_built_in_sources_are_declared_once_and_complete() -> None:
    assert tuple(SOURCES)[:5] == BUILT_IN
    letters = [SOURCES[n].letter for n in BUILT_IN]
    assert letters == ["G", "M", "A", "X", "S"]
    schema = config_schema()
    for name in BUILT_IN:
        source = SOURCES[name]
        # builder and factory resolve; the section's schema is the source's own fragment
        assert callable(sources._load(source.settings)) and callable(sources._load(source.factory))
        assert schema["properties"][source.config_key] == source.schema_fragment()
        assert source.enable and source.label and all(source.noun)
    # every letter the rubric uses is a registered source
    used = {c for d in load_definitions() for c in d.collectors}
    assert used <= set(sources.source_letters().values())


def test_a_clashing_source_is_refused() -> None:
    with pytest.raises(ValueError, match="reuses the letter of 'git'"):
        register(Source("other", "G", "x", "other", "x", ("x", "xs"), "a:b", "a:b", "a:b"))
    assert "other" not in SOURCES


def test_check_context_answers_which_sources_ran() -> None:
    ctx = CheckContext(evidence=[], available={"G", "M"})
    assert ctx.ran("mlflow") and ctx.ran("aws", "git") and not ctx.ran("aws", "gx")


TOY_SETTINGS = '''
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ToySettings:
    folder: Path
    timeout_s: float | None = None


def from_config(section, where):
    folder = where.path(section["folder"])
    if not folder.is_dir():
        raise where.error(f"not a folder: {folder}", "folder")
    return ToySettings(folder)
'''
TOY_COLLECTOR = '''
from mlaudit.collectors.base import CollectContext, Collector, CollectorResult
from mlaudit.evidence import EvidenceItem


class ToyCollector(Collector):
    name = "toy"
    letter = "T"

    def __init__(self, settings):
        self.settings = settings

    def describe(self):
        return f"toy runs in {self.settings.folder}"

    def collect(self, ctx: CollectContext) -> CollectorResult:
        result = CollectorResult()
        for run in sorted(self.settings.folder.glob("*.run")):
            result.evidence.append(EvidenceItem(
                collector="toy", signal="toy_run", locator=f"toy:{run.name}", subject="toy",
                attributes={"ok": run.read_text().strip() == "ok"}))
        result.targets.append({"name": self.settings.folder.name, "kind": "toy folder"})
        return result
'''
TOY_CHECK = {
    "id": "L2.toy-runs-pass",
    "level": 2,
    "dimension": "technical",
    "title": "Toy runs pass",
    "criterion": "Every toy run ends ok.",
    "collectors": ["T"],
    "remediation": "Fix the failing toy runs.",
    "framework": "A toy passage for the walkthrough.",
    "decides": ["T"],
}


@pytest.fixture
def toy_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The walkthrough's source: a package folder with settings, schema and collector, plus one
    registry entry."""
    pkg = tmp_path / "pkgs" / "toysrc"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "settings.py").write_text(textwrap.dedent(TOY_SETTINGS))
    (pkg / "collector.py").write_text(textwrap.dedent(TOY_COLLECTOR))
    (pkg / "settings.schema.json").write_text(
        '{"type": "object", "additionalProperties": false, "required": ["folder"],'
        ' "properties": {"folder": {"type": "string"}}}')
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    source = register(Source("toy", "T", "toy runs", "toy", "point toy: at a folder of runs (toy:)",
                             ("toy folder", "toy folders"), "toysrc.settings:from_config",
                             "toysrc.collector:ToyCollector", "toysrc:settings.schema.json"))
    yield source
    del SOURCES["toy"]
    sources.source_letters.cache_clear()


@pytest.fixture
def toy_check():
    """The walkthrough's check: one rubric entry plus one evaluator."""
    load_definitions()  # the built-in evaluators are registered (and the rubric cached) first

    @evaluator("L2.toy-runs-pass")
    def toy_runs_pass(ctx: CheckContext) -> Verdict | None:
        runs = ctx.signal("toy_run")
        if not runs:
            return None
        bad = [r for r in runs if not r.attributes["ok"]]
        return Verdict(Outcome.FAIL if bad else Outcome.PASS,
                       f"{len(runs) - len(bad)} of {len(runs)} toy run(s) ok.", runs)

    raw = yaml.safe_load(RUBRIC_PATH.read_text(encoding="utf-8"))
    defs = parse_definitions([*raw, TOY_CHECK])
    check_registry(defs, set(EVALUATORS))
    yield defs
    del EVALUATORS["L2.toy-runs-pass"]


def _toy_config(tmp_path: Path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "a.run").write_text("ok")
    (runs / "b.run").write_text("crashed")
    cfg_file = tmp_path / "mlaudit.yaml"
    cfg_file.write_text("version: 1\ntoy:\n  folder: runs\n")
    return parse_config(cfg_file.read_text(), str(cfg_file), base_dir=tmp_path), runs


def test_a_new_source_is_one_folder_and_one_entry(tmp_path: Path, toy_source) -> None:
    config, runs = _toy_config(tmp_path)
    assert config.settings_of("toy").folder == runs
    assert [s.name for s in config.configured()] == ["toy"]
    (collector,) = build_collectors(config)
    assert collector.letter == "T"

    result = audit(config)
    toy = next(c for c in result.report["collectors"] if c["name"] == "toy")
    assert toy["status"] == "ok" and toy["evidence_count"] == 2
    assert {c["name"]: c["status"] for c in result.report["collectors"]}["git"] == "not_configured"


def test_a_new_check_is_one_rubric_entry_and_one_evaluator(tmp_path: Path, toy_source, toy_check) -> None:
    config, _ = _toy_config(tmp_path)
    (collector,) = build_collectors(config)
    # the check reads the new source's evidence through the same runner
    ctx = CheckContext(evidence=collector.collect(None).evidence, available={"T"})
    (finding,) = [f for f in run_checks(ctx, defs=toy_check) if f.check_id == "L2.toy-runs-pass"]
    assert finding.outcome == Outcome.FAIL and "1 of 2" in finding.explanation
    # without the source, the check is unknown and says how to enable it
    (unknown,) = [f for f in run_checks(CheckContext(evidence=[], available=set()), defs=toy_check)
                  if f.check_id == "L2.toy-runs-pass"]
    assert unknown.outcome == Outcome.UNKNOWN
    assert "point toy: at a folder of runs (toy:)" in unknown.missing


def test_a_new_source_section_is_validated_with_file_line_and_key(tmp_path: Path, toy_source) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("version: 1\ntoy:\n  folder: nowhere\n", "cfg.yaml", base_dir=tmp_path)
    assert (err.value.line, err.value.key) == (3, "toy.folder")
    with pytest.raises(ConfigError) as err:
        parse_config("version: 1\ntoy:\n  folders: x\n", "cfg.yaml", base_dir=tmp_path)
    assert "unknown key" in str(err.value)
