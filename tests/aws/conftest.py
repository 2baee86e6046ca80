"""Fixtures for the AWS collector tests: a moto server, isolated accounts, seeded estates, stubs.

moto_server runs on a free loopback port for the session (or the one named by
MLAUDIT_TEST_MOTO_URL, which `.ci/run` starts and xdist workers share). Tests never reset it:
each test works in accounts of its own. moto picks the account of a request from its access key,
and keys minted by `sts:AssumeRole` belong to the account in the role ARN, so assuming
`arn:aws:iam::<fresh id>:role/...` gives a test an empty account nobody else touches.
Helpers (estates, Stubber scripts for the APIs moto lacks) live in `awsutil.py`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from awsutil import Stubs

VENV_BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 20.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()  # noqa: S310 - loopback
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not start at {url}")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    shared = os.environ.get("MLAUDIT_TEST_MOTO_URL")
    if shared:
        yield shared.rstrip("/")
        return
    port = _free_port()
    exe = VENV_BIN / "moto_server"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    proc = subprocess.Popen([*cmd, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def apply_env(mp: pytest.MonkeyPatch, moto_url: str, home: Path) -> None:
    """Talk to moto only, with throwaway credentials and no machine config."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION",
                "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        mp.delenv(var, raising=False)
    mp.setenv("AWS_ENDPOINT_URL", moto_url)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Path) -> str:
    apply_env(monkeypatch, moto_url, tmp_path)
    return moto_url


@pytest.fixture(scope="module")
def module_env(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same environment for module-scoped fixtures (an estate seeded once per module)."""
    with pytest.MonkeyPatch.context() as mp:
        apply_env(mp, moto_url, tmp_path_factory.mktemp("aws-home"))
        yield moto_url

@pytest.fixture
def stubs() -> Stubs:
    return Stubs()
