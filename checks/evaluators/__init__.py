"""The evaluators, one small function per check, grouped by level; importing registers them."""

from mlaudit.checks.evaluators import level1, level2, level3, level4, level5  # noqa: F401
