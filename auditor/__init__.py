"""mlaudit: evidence-based ML maturity audits."""

__version__ = "0.1.0"
