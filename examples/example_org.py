"""Build an example ML organisation on local disk: git repositories with real history.

    python examples/example_org.py ./example-org
    mlaudit scan ./example-org

The organisation itself lives in the package (`auditor.demo_org`), so `mlaudit demo` builds the
same one from an installed mlaudit; see that module for what each repository holds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlaudit.demo_org import build

__all__ = ["build"]

if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "example-org")
    try:
        build(target)
    except FileExistsError as exc:
        raise SystemExit(str(exc)) from None
    print(f"built an example organisation in {target}; audit it with: mlaudit scan {target}")
