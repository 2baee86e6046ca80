"""mlaudit-wandb: Weights & Biases runs as mlaudit evidence.

A source (entry point group `mlaudit.collectors`): the config section `wandb:` names local
`wandb/` folders (as `wandb.init` writes them: one folder per run with its `run-ID.wandb` log)
and, optionally, W&B projects read through the public API (`wandb.Api`). Checks (entry point
group `mlaudit.checks`, `mlaudit_wandb.checks`): `wandb.tracked-runs` and
`wandb.runs-have-commit`, unscored — reported under "Other checks", they never move a level.

Heavy imports (`wandb`) happen inside the collector only.
"""

from mlaudit.sources import Source

__version__ = "0.1.0"

SOURCE = Source(
    "wandb", "W", "Weights & Biases runs", "wandb",
    "point wandb: at local wandb/ run folders or W&B projects (wandb:)",
    ("W&B folder or project", "W&B folders and projects"),
    "mlaudit_wandb.settings:from_config", "mlaudit_wandb.collector:WandbCollector",
    "mlaudit_wandb:settings.schema.json",
)
