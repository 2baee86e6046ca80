"""Reading an audited repository's objects: a private git directory, and one
`git cat-file --batch-command` process per repository for object sizes and contents on demand.

Every object read goes through `ObjectStore`: a throw-away git directory of mlaudit's own whose
object store is the audited repository's (an `alternates` entry), so

- nothing the repository configures is read: no promisor remote (a partial clone's missing blob
  is reported missing, never fetched over the network), no hooks, filters or helpers;
- a missing or corrupt object is one file skipped (`ObjectUnreadable`), never the repository.

Listing a tree with sizes (`ls-tree -l`) looks up every object in it; most are never read.
Instead sizes are asked for only where a detector needs one (`info`), and contents are streamed
(`contents`) through the same process, never a process per file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlaudit.collectors.base import RUN_TMP_ENV
from mlaudit.collectors.git.repos import GIT_ENV, RepoError

_CHUNK = 1 << 16
#: cat-file restarts after it died on a corrupt object, before the rest is given up
MAX_RESTARTS = 20
#: reasons a file is skipped, as counted in a repository's coverage
MISSING, CORRUPT = "missing objects", "corrupt objects"
#: a YAML file refused unparsed (an alias bomb); counted with the unreadable objects
REFUSED_YAML = "refused YAML (alias bomb)"
# no transport at all: a lookup of an object that is not there must never fetch it
_NO_FETCH_ENV = {"GIT_NO_LAZY_FETCH": "1", "GIT_ALLOW_PROTOCOL": "none"}
# inherited variables that would point git at another repository than the one asked for
_REPO_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
              "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_NAMESPACE", "GIT_SHALLOW_FILE",
              "GIT_REPLACE_REF_BASE")


class ObjectUnreadable(Exception):  # noqa: N818 - a reason to skip one file, not a failure
    """One object could not be read; `reason` is how it is counted (`missing objects`, ...)."""

    def __init__(self, sha: str, reason: str) -> None:
        super().__init__(f"object {sha[:12]}: {reason}")
        self.sha, self.reason = sha, reason


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


def read_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_VARS}
    return {**env, **GIT_ENV, **_NO_FETCH_ENV}


def _common_dir(git_dir: Path) -> Path:
    """Where a repository's objects live: its own folder, or a linked worktree's common dir."""
    common = git_dir / "commondir"
    if common.is_file():
        target = Path(common.read_text(errors="replace").strip())
        return target if target.is_absolute() else (git_dir / target).resolve()
    return git_dir


def _alternate_line(path: Path) -> str:
    text = str(path)
    if any(c in text for c in '"\\\n\t') or text != text.strip():
        # git's C-style quoting for paths that would not survive one line as is
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    return text + "\n"


class RepoTimedOut(Exception):  # noqa: N818 - a limit reached, named as the report says it
    """The repository's time limit (`git.repo_timeout_s`) passed: it stops being read."""

    def __init__(self, limit: float, coverage: dict[str, Any] | None = None) -> None:
        super().__init__(f"timed out after {limit:g} s")
        self.limit, self.coverage = limit, coverage

    def __str__(self) -> str:
        text = f"timed out after {self.limit:g} s (git.repo_timeout_s)"
        if self.coverage is not None:
            text += (f"; {self.coverage['files_read']} of {self.coverage['files_total']} files read; "
                     "its evidence is left out (an incomplete read would misstate what it holds)")
        return text


@dataclass
class Deadline:
    """When a repository's reading must stop (a monotonic clock time), and its limit."""

    at: float
    limit: float

    @classmethod
    def after(cls, limit: float | None) -> Deadline | None:
        return None if not limit else cls(time.monotonic() + limit, limit)

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if time.monotonic() >= self.at:
            raise RepoTimedOut(self.limit)


#: whether this git runs `git grep -P` (None until a search asks)
_PERL_GREP: dict[str, bool | None] = {"ok": None}
#: threads each `git grep` runs (`grep.threads`; 0: git's default, one per core). A worker of a
#: pool that already keeps every core busy sets 1: the threads of its searches would only take
#: turns on the same cores, and handing files between them costs CPU (one thread: 12 % less
#: CPU over 40 repositories of make_org, 30 % less over 30 real ones)
GREP_THREADS = {"n": 0}


def without_pcre(stderr: bytes) -> bool:
    """Whether `git grep -P` failed because git was built without PCRE ("cannot use
    Perl-compatible regexes when not compiled with USE_LIBPCRE")."""
    return b"USE_LIBPCRE" in stderr or b"Perl-compatible" in stderr


class ObjectStore:
    """An audited repository's objects, read through a private git directory (see the module)."""

    #: the repository's time limit: a git process still running when it passes is stopped
    deadline: Deadline | None = None

    def __init__(self, git_dir: Path) -> None:
        common = _common_dir(Path(git_dir)).resolve()
        objects = common / "objects"
        if not objects.is_dir():
            raise RepoError(f"not a git repository (no objects folder): {git_dir}")
        self.objects = objects
        # inside the run's own temporary folder when the CLI made one (it is removed even when
        # the run ends hard, after a timeout), else the system's
        run_tmp = os.environ.get(RUN_TMP_ENV)
        self.path = Path(tempfile.mkdtemp(prefix="mlaudit-objects-",
                                          dir=run_tmp if run_tmp and os.path.isdir(run_tmp) else None))
        try:
            (self.path / "objects" / "info").mkdir(parents=True)
            (self.path / "refs").mkdir()
            (self.path / "HEAD").write_text("ref: refs/heads/mlaudit\n")
            (self.path / "objects" / "info" / "alternates").write_text(_alternate_line(objects))
            config = "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"
            self.object_format = _object_format(common)
            if self.object_format == "sha256":
                config = ("[core]\n\trepositoryformatversion = 1\n\tbare = true\n"
                          "[extensions]\n\tobjectformat = sha256\n")
            (self.path / "config").write_text(config)
            if (common / "shallow").is_file():  # a shallow clone's history ends where it says
                shutil.copyfile(common / "shallow", self.path / "shallow")
        except OSError:
            self.close()
            raise

    def run(self, *args: str, timeout: float = 600) -> str:
        """`git <args>` against the object store; RepoError when git fails (RepoTimedOut when
        the repository's time limit passes meanwhile)."""
        timeout = self._bounded(timeout)
        try:
            proc = subprocess.run(
                ["git", "--git-dir", str(self.path), *args], capture_output=True, timeout=timeout,
                env=read_env(), stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            if self.deadline is not None:
                self.deadline.check()
            raise RepoError(f"git {args[0]} timed out after {timeout:.0f}s") from None
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()
            raise RepoError(f"git {args[0]} failed: {err.splitlines()[-1] if err else 'no output'}")
        return proc.stdout.decode("utf-8", errors="surrogateescape")

    def grep_paths(self, commit: str, pattern: str, pathspecs: list[str],
                   timeout: float = 600, perl: str | None = None) -> set[str] | None:
        """Paths at `commit` (limited to `pathspecs`) whose bytes match the extended regular
        expression `pattern` (byte semantics, `\\<`/`\\>` word boundaries): one `git grep`, in C,
        so files that match nothing are never read. `perl`: the same search as a Perl-compatible
        expression, used where git is built with PCRE (it runs a large alternation in half the
        time of the POSIX engine). None when git could not answer (a missing object, an old
        git): the caller then reads every file itself."""
        use_perl = perl is not None and _PERL_GREP["ok"] is not False
        engine, expression = ("-P", perl) if perl is not None and use_perl else ("-E", pattern)
        proc = self._grep(["-l", engine], expression, commit, pathspecs, timeout)
        if proc is None:
            return None
        if use_perl and proc.returncode not in (0, 1) and without_pcre(proc.stderr):
            _PERL_GREP["ok"] = False  # this git has no PCRE: the POSIX search from now on
            return self.grep_paths(commit, pattern, pathspecs, timeout)
        if proc.returncode not in (0, 1) or proc.stderr.strip():
            return None  # e.g. a blob it could not read: reading each file says which, and counts it
        prefix = commit + ":"
        out = proc.stdout.decode("utf-8", errors="surrogateescape")
        return {p.removeprefix(prefix) for p in out.split("\0") if p}

    def grep_matches(self, commit: str, pattern: str, pathspecs: list[str],
                     timeout: float = 600) -> dict[str, list[str]] | None:
        """The parts of the files at `commit` (limited to `pathspecs`) that match the extended
        regular expression `pattern`, file by file (`git grep -o`, in C: what a file too large to
        read whole holds, without reading it into Python). None when git could not answer."""
        proc = self._grep(["-o", "-E"], pattern, commit, pathspecs, timeout)
        if proc is None or proc.returncode not in (0, 1) or proc.stderr.strip():
            return None
        prefix = commit + ":"
        out: dict[str, list[str]] = {}
        for line in proc.stdout.decode("utf-8", errors="surrogateescape").split("\n"):
            path, sep, match = line.partition("\0")
            if sep:
                out.setdefault(path.removeprefix(prefix), []).append(match)
        return out

    def _grep(self, options: list[str], expression: str, commit: str, pathspecs: list[str],
              timeout: float) -> subprocess.CompletedProcess[bytes] | None:
        """One `git grep` at `commit` (NUL after each path, no colour or text conversion, C locale),
        within the repository's time; None when it could not be run or ran out of time."""
        try:
            threads = ["-c", f"grep.threads={GREP_THREADS['n']}"] if GREP_THREADS["n"] else []
            return subprocess.run(
                ["git", "--git-dir", str(self.path), *threads, "grep", *options, "-z", "--no-color",
                 "--no-textconv", "-e", expression, commit, "--", *pathspecs],
                capture_output=True, timeout=self._bounded(timeout), env={**read_env(), "LC_ALL": "C"},
                stdin=subprocess.DEVNULL,
            )
        except (subprocess.TimeoutExpired, OSError):
            return None

    def _bounded(self, timeout: float) -> float:
        """`timeout`, cut to what is left of the repository's time (RepoTimedOut if nothing)."""
        if self.deadline is None:
            return timeout
        self.deadline.check()
        return max(0.05, min(timeout, self.deadline.left()))

    def reason_missing(self, sha: str) -> str:
        """`corrupt objects` when a loose object file is there but unreadable, else `missing`."""
        return CORRUPT if (self.objects / sha[:2] / sha[2:]).exists() else MISSING

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _object_format(common: Path) -> str:
    try:
        text = (common / "config").read_text(errors="replace")
    except OSError:
        return "sha1"
    return "sha256" if re.search(r"^\s*objectformat\s*=\s*sha256\s*$", text, re.I | re.M) else "sha1"


class BlobReader:
    """Sizes and contents of blobs; an unreadable one raises `ObjectUnreadable` and the reader
    goes on (cat-file is restarted when a corrupt object killed it)."""

    def __init__(self, git_dir: Path | ObjectStore, max_blob: int) -> None:
        self.max_blob = max_blob
        self._owns_store = not isinstance(git_dir, ObjectStore)
        self.store = ObjectStore(git_dir) if self._owns_store else git_dir  # type: ignore[arg-type]
        self.unreadable: dict[str, str] = {}  # sha -> reason, never asked again
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # a pipe nobody reads would fill and block git
        self._proc = subprocess.Popen(
            ["git", "--git-dir", str(self.store.path), "cat-file", "--batch-command"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=read_env(),
        )

    def _died(self, sha: str) -> ObjectUnreadable:
        """cat-file stopped while answering about `sha`: count the object, start a new one."""
        self._stop()
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise RepoError(f"git cat-file failed {self.restarts} times; last on object {sha[:12]}")
        self._start()
        return self._unreadable(sha, CORRUPT)

    def _unreadable(self, sha: str, reason: str) -> ObjectUnreadable:
        self.unreadable[sha] = reason
        return ObjectUnreadable(sha, reason)

    def _header(self, sha: str) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.endswith(b"\n"):
            raise self._died(sha)
        parts = line.split()
        if len(parts) < 3 or parts[-1] == b"missing":
            raise self._unreadable(sha, self.store.reason_missing(sha))
        return int(parts[2])

    def _ask(self, command: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(command.encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise RepoError(f"git cat-file stopped: {exc}") from None

    def _known(self, sha: str) -> None:
        if sha in self.unreadable:
            raise ObjectUnreadable(sha, self.unreadable[sha])

    def size(self, sha: str) -> int:
        self._known(sha)
        self._ask(f"info {sha}")
        return self._header(sha)

    def sizes(self, shas: list[str]) -> list[int | None]:
        """Sizes of many objects in one round trip per chunk (commands are pipelined; chunks keep
        git's replies within the pipe's buffer so neither side waits on the other). None for an
        object that cannot be read (it is remembered, and `read` refuses it at once)."""
        out: list[int | None] = []
        for start in range(0, len(shas), 500):
            chunk = shas[start : start + 500]
            got = self._chunk_sizes([s for s in dict.fromkeys(chunk) if s not in self.unreadable])
            out.extend(got.get(sha) for sha in chunk)
        return out

    def _chunk_sizes(self, chunk: list[str]) -> dict[str, int | None]:
        got: dict[str, int | None] = {}
        while chunk:
            self._ask("\n".join(f"info {sha}" for sha in chunk))
            restarts = self.restarts
            for i, sha in enumerate(chunk):
                try:
                    got[sha] = self._header(sha)
                except ObjectUnreadable:
                    got[sha] = None
                if self.restarts != restarts:  # cat-file died: the rest was never answered
                    chunk = chunk[i + 1 :]
                    break
            else:
                chunk = []
        return got

    def read_many(self, shas: list[str]) -> Iterator[tuple[str, bytes | None | ObjectUnreadable]]:
        """Many blobs in one stream: every request is written at once (by a thread, so that
        neither side waits on a full pipe) and the answers are read in order; what `read` would
        return or raise, per blob. After cat-file died on a corrupt object, the rest are read
        one by one."""
        todo = [s for s in dict.fromkeys(shas) if s not in self.unreadable]
        for sha in dict.fromkeys(shas):
            if sha in self.unreadable:
                yield sha, ObjectUnreadable(sha, self.unreadable[sha])
        if not todo:
            return
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        payload = "".join(f"contents {sha}\n" for sha in todo).encode()

        def write() -> None:
            try:
                proc.stdin.write(payload)  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError, ValueError):
                pass  # cat-file died: the reader sees it and falls back

        writer = threading.Thread(target=write, name="cat-file-writer", daemon=True)
        writer.start()
        restarts = self.restarts
        try:
            for i, sha in enumerate(todo):
                try:
                    yield sha, self._receive(sha)
                except ObjectUnreadable as exc:
                    yield sha, exc
                if self.restarts != restarts:  # a new cat-file never saw the rest
                    writer.join()
                    for rest in todo[i + 1 :]:
                        try:
                            yield rest, self.read(rest)
                        except ObjectUnreadable as exc:
                            yield rest, exc
                    return
        except BaseException:
            # the stream was abandoned midway (the repository's time limit): the writer would
            # wait forever on cat-file, which waits for its answers to be read
            if writer.is_alive():
                proc.kill()
            raise
        finally:
            writer.join()

    def read(self, sha: str) -> bytes | None:
        """The blob's bytes, or None when it is over the size limit (its bytes are skipped)."""
        self._known(sha)
        self._ask(f"contents {sha}")
        return self._receive(sha)

    def _receive(self, sha: str) -> bytes | None:
        size = self._header(sha)
        assert self._proc is not None and self._proc.stdout is not None
        if size > self.max_blob:
            left = size + 1
            while left:
                got = self._proc.stdout.read(min(left, _CHUNK))
                if not got:
                    raise self._died(sha)
                left -= len(got)
            return None
        data = self._proc.stdout.read(size + 1)  # and the newline after the contents
        if len(data) != size + 1:
            raise self._died(sha)
        return data[:-1]

    def _stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._stderr.close()
        self._proc = None

    def close(self) -> None:
        self._stop()
        if self._owns_store:
            self.store.close()
