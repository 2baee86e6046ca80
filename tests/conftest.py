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
# Each test reads what it built; the incremental scan cache (tests/test_git_scancache.py turns
# it on in a folder of its own) would otherwise keep results in the user's home between runs.
os.environ.setdefault("MLAUDIT_SCAN_CACHE", "off")
# Hermetic: no installed entry-point plugin (examples/plugin-wandb is installed by `make install`)
# loads unless a test turns it on (MLAUDIT_PLUGINS=<its distribution>, docs/extending.md).
os.environ["MLAUDIT_PLUGINS"] = "off"


@pytest.fixture(scope="session")
def example_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example organisation of examples/example_org.py, built once per session."""
    from examples.example_org import build

    return build(tmp_path_factory.mktemp("org") / "example-org")


@pytest.fixture(autouse=True)
def _forget_modules_built_by_the_test(tmp_path_factory: pytest.TempPathFactory):
    """Tests that write a package (a toy source, a plugin) under their tmp_path and import it
    leave it in sys.modules; the next test on the same worker writing a package of the same name
    would import the stale one. Modules loaded from pytest's temporary folders are forgotten."""
    import sys

    yield
    base = str(tmp_path_factory.getbasetemp())
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(base):
            del sys.modules[name]
