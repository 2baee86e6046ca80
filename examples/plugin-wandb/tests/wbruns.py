"""Real W&B run folders for the plugin's tests: `wandb.init(mode="offline")` in a child process
(the official client writes the folder exactly as it does for a user), in a git checkout or not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TRAIN = textwrap.dedent('''
    import sys
    import wandb

    steps = int(sys.argv[1])
    run = wandb.init(mode="offline", entity="acme", project=sys.argv[2], job_type="train",
                     config={"lr": 0.1, "epochs": steps})
    for i in range(steps):
        run.log({"loss": 1.0 / (i + 1), "acc": 0.5 + i / 10})
    run.finish()
''')


def wandb_env(home: Path) -> dict[str, str]:
    """The client's own files (config, cache, logs) kept in `home`, not the user's."""
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "WANDB_SILENT": "true", "WANDB_CONFIG_DIR": str(home / "config"),
            "WANDB_CACHE_DIR": str(home / "cache"), "WANDB_DATA_DIR": str(home / "data"),
            "WANDB_DISABLE_CODE": "true", "HOME": str(home)}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_project(folder: Path, *, steps: int, commit: bool, home: Path) -> subprocess.Popen:
    """Start a training script that logs `steps` rows of metrics in `folder` (a git checkout
    with one commit when `commit`); wait on the returned process."""
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(TRAIN)
    if commit:
        git(folder, "init", "-q")
        git(folder, "add", "train.py")
        git(folder, "commit", "-qm", "train")
    return subprocess.Popen([sys.executable, "train.py", str(steps), folder.name], cwd=folder,
                            env=wandb_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def build_org(root: Path) -> dict[str, Path]:
    """churn: a git checkout whose run logged metrics; nocommit: metrics, not a checkout; stub:
    a run that logged nothing (init and finish only); empty: a wandb/ folder with no run."""
    home = root / "wandb-home"
    started = {
        "churn": make_project(root / "churn", steps=3, commit=True, home=home),
        "nocommit": make_project(root / "nocommit", steps=2, commit=False, home=home),
        "stub": make_project(root / "stub", steps=0, commit=True, home=home),
    }
    for name, proc in started.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"{name}: {err.decode()[-2000:]}"
    empty = root / "empty" / "wandb"
    empty.mkdir(parents=True)
    (empty / "debug.log").write_text("wandb: nothing was run here\n")
    return {name: root / name for name in ("churn", "nocommit", "stub", "empty")}
