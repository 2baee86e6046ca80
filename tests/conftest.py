from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Real git needs an identity for the commits tests make; never read the machine's git config.
os.environ.setdefault("GIT_AUTHOR_NAME", "mlaudit tests")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "tests@mlaudit.invalid")
os.environ.setdefault("GIT_COMMITTER_NAME", "mlaudit tests")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "tests@mlaudit.invalid")


@pytest.fixture(scope="session")
def example_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example organisation of examples/example_org.py, built once per session."""
    from examples.example_org import build

    return build(tmp_path_factory.mktemp("org") / "example-org")
