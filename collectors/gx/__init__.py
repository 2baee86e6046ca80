"""The Great Expectations collector: suites, checkpoints and whether their validations run."""
