"""The rubric: check definitions (data, `rubric.yaml`) and evaluators (code) turning evidence
into findings. Knows nothing of where evidence came from.

Public API: `load_definitions()`, `run_checks(ctx, waivers)`, and from `checks.base` the
`CheckDef`, `CheckContext`, `Verdict`, `PluginChecks` types and the `@evaluator` registry.
"""

from mlaudit.checks.base import (
    LEVEL_NAMES,
    CheckContext,
    CheckDef,
    PluginChecks,
    Verdict,
    evaluator,
    scored,
)
from mlaudit.checks.definitions import RubricError, definitions_by_id, load_definitions
from mlaudit.checks.runner import assess_with, run_checks

__all__ = [
    "LEVEL_NAMES",
    "CheckContext",
    "CheckDef",
    "PluginChecks",
    "RubricError",
    "Verdict",
    "assess_with",
    "definitions_by_id",
    "evaluator",
    "load_definitions",
    "run_checks",
    "scored",
]
