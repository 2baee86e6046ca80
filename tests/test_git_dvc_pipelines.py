"""DVC pipelines as data pipelines (`L2.data-pipeline`: "ETL code ... pipeline modules"): a
`dvc.yaml` stage that turns data into data (a command with its dependencies and outputs, named or
run as a data step) is the data pipeline as code, run in order by `dvc repro`. Met across the
calibration corpus (seven reviewers counted it, no reviewer disagreed where mlaudit now finds it).
Decoys: a pipeline of training and evaluation stages only (their commands name data paths, not a
data step), a stage without outputs, a test fixture, a README mention, a commented-out stage.
"""

from __future__ import annotations

from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

PIPELINE = """stages:
  prepare:
    cmd: python src/prepare.py data/raw data/prepared
    deps: [src/prepare.py, data/raw]
    outs: [data/prepared]
  train:
    cmd: python src/train.py data/prepared model.pkl
    deps: [data/prepared]
    outs: [model.pkl]
"""
TRAIN_ONLY = """stages:
  train:
    cmd: python src/train.py --data data/processed/train.csv
    deps: [data/processed/train.csv, src/train.py]
    outs: [models/model.pkl]
  evaluate:
    cmd: python src/evaluate.py data/processed/test.csv
    deps: [models/model.pkl]
    metrics: [metrics.json]
"""


def pipelines(files: dict[str, str]) -> list[EvidenceItem]:
    return [i for i in analyze_files(RepoView.from_files("repo", files)) if i.signal == "data_pipeline"]


def test_a_dvc_stage_that_turns_data_into_data_is_a_data_pipeline() -> None:
    [item] = pipelines({"dvc.yaml": PIPELINE})
    assert item.tool == "dvc" and item.attributes["data_stages"] == ["prepare"]
    assert item.attributes["stages"] == 2 and item.locator.startswith("repo:dvc.yaml:2")


def test_a_data_step_is_known_by_the_script_it_runs_and_foreach_stages_count() -> None:
    by_script = "stages:\n  step1:\n    cmd: python -m src.data.make_dataset\n    deps: [data/raw]\n    outs: [data/interim]\n"
    assert [i.attributes["data_stages"] for i in pipelines({"pipelines/dvc.yaml": by_script})] == [["step1"]]
    foreach = ("stages:\n  featurize:\n    foreach: [a, b]\n    do:\n      cmd: python src/featurize.py ${item}\n"
               "      deps:\n        - data/${item}\n      outs:\n        - features/${item}\n")
    assert [i.attributes["data_stages"] for i in pipelines({"dvc.yaml": foreach})] == [["featurize"]]


def test_decoys_training_stages_stages_without_outputs_fixtures_and_mentions() -> None:
    assert pipelines({"dvc.yaml": TRAIN_ONLY}) == []  # data paths in a training command are not a data step
    no_outs = "stages:\n  prepare:\n    cmd: python src/prepare.py\n    deps: [data/raw]\n"
    assert pipelines({"dvc.yaml": no_outs}) == []
    assert pipelines({"tests/fixtures/pipeline/dvc.yaml": PIPELINE}) == []
    assert pipelines({"README.md": "Run `dvc repro` to prepare the data (stages: prepare, train).\n"}) == []
    commented = "stages:\n#  prepare:\n#    cmd: python src/prepare.py\n#    outs: [data/prepared]\n" + TRAIN_ONLY.split("\n", 1)[1]
    assert pipelines({"dvc.yaml": commented}) == []
