"""One `git cat-file --batch-command` process per repository: object sizes and contents on demand.

Listing a tree with sizes (`ls-tree -l`) looks up every object in it; most are never read.
Instead sizes are asked for only where a detector needs one (`info`), and contents are streamed
(`contents`) through the same process, never a process per file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from collectors.git.repos import GIT_ENV, RepoError

_CHUNK = 1 << 16


def batch_command_supported() -> bool:
    """`cat-file --batch-command` arrived in git 2.36."""
    try:
        out = subprocess.run(["git", "version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    parts = out.split()[-1].split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (2, 36)
    except (ValueError, IndexError):
        return False


class BlobReader:
    def __init__(self, git_dir: Path, max_blob: int) -> None:
        self.max_blob = max_blob
        self._proc = subprocess.Popen(
            ["git", "--git-dir", str(git_dir), "cat-file", "--batch-command"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **GIT_ENV},
        )

    def _header(self, sha: str) -> int:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.poll()
            err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
            last = err.splitlines()[-1] if err else "git cat-file stopped"
            raise RepoError(f"cannot read object {sha[:12]}: {last.removeprefix('fatal: ')}")
        parts = line.split()
        if len(parts) < 3 or parts[-1] == b"missing":
            raise RepoError(f"object {sha[:12]} is missing")
        return int(parts[2])

    def _ask(self, command: str) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(command.encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise RepoError(f"git cat-file stopped: {exc}") from None

    def size(self, sha: str) -> int:
        self._ask(f"info {sha}")
        return self._header(sha)

    def sizes(self, shas: list[str]) -> list[int]:
        """Sizes of many objects in one round trip per chunk (commands are pipelined; chunks keep
        git's replies within the pipe's buffer so neither side waits on the other)."""
        out: list[int] = []
        for start in range(0, len(shas), 500):
            chunk = shas[start : start + 500]
            self._ask("\n".join(f"info {sha}" for sha in chunk))
            out.extend(self._header(sha) for sha in chunk)
        return out

    def read(self, sha: str) -> bytes | None:
        """The blob's bytes, or None when it is over the size limit (its bytes are skipped)."""
        self._ask(f"contents {sha}")
        size = self._header(sha)
        assert self._proc.stdout is not None
        if size > self.max_blob:
            left = size + 1
            while left:
                left -= len(self._proc.stdout.read(min(left, _CHUNK)) or b"x" * left)
            return None
        data = self._proc.stdout.read(size)
        self._proc.stdout.read(1)  # the newline after the contents
        return data

    def close(self) -> None:
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
