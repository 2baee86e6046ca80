"""The MLflow collector: experiment tracking and the model registry, read-only."""
