"""Finding, cloning and opening repositories — all read-only toward what is audited.

Local repositories are only read (`ls-tree`, `cat-file`, `log`). Remote URLs are mirrored into
mlaudit's own cache folder (never into an audited repository) and fetched on later runs
(mlaudit.collectors.git.mirrors: markers, locks, housekeeping).

Nothing an audited repository contains ever runs. Every git process mlaudit starts gets, in its
environment, configuration that outranks the repository's own (`GIT_CONFIG_COUNT` is command-line
scope) for each setting that would make git run a program: `core.fsmonitor`, `core.hooksPath`,
`core.pager`, `log.showSignature` (gpg), `diff.external`, `core.sshCommand`, `credential.helper`,
`core.askPass`; and transports are restricted (`protocol.allow=never`, `GIT_ALLOW_PROTOCOL`): none
at all when reading an audited repository (a partial clone's promisor remote, an `ext::` URL or a
`remote.*.uploadpack` are never used), file/https/http/ssh/git when mirroring a configured URL.
Filters and textconv never run because only plumbing that does not apply them is used
(`cat-file` without `--filters`/`--textconv`, `ls-tree`, `log` without patches); repositories are
always named with `--git-dir` (no discovery, so git's ownership check does not apply and no
`safe.directory` exception is needed). `uploadpack.packObjectsHook` and `safe.directory` are
honoured by git only from the user's own (protected) configuration.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from mlaudit.redact import redact

SKIP_DIRS = {"node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache", "site-packages"}
#: settings that make git run a program, neutralised on every git process (see the module)
_NO_PROGRAMS = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("log.showSignature", "false"),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("protocol.allow", "never"),
)
#: reading an audited repository: no helper of any kind (no transport is allowed either)
_NO_HELPERS = (("diff.external", ""), ("core.sshCommand", ""), ("credential.helper", ""), ("core.askPass", ""))
#: transports a configured URL may use when it is mirrored (never `ext::` or remote helpers)
TRANSPORTS = ("file", "https", "http", "ssh", "git")


def _config_env(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> dict[str, str]:
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


_COMMON_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat"}
#: the environment additions for git reading an audited repository (named with --git-dir)
GIT_ENV = {
    **_config_env(_NO_PROGRAMS + _NO_HELPERS),
    **_COMMON_ENV,
    "GIT_ALLOW_PROTOCOL": "none",  # no transport at all: nothing is ever fetched while reading
    "GIT_NO_LAZY_FETCH": "1",  # git >= 2.44: a partial clone's missing object is not fetched
}


def network_env(extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """The environment additions for cloning or fetching a configured URL into the cache: the
    user's credential helpers and ssh settings apply, `extra` settings (credentials) too."""
    allow = tuple((f"protocol.{t}.allow", "always") for t in TRANSPORTS)
    return {**_config_env(_NO_PROGRAMS + allow + extra), **_COMMON_ENV, "GIT_ALLOW_PROTOCOL": ":".join(TRANSPORTS)}


class RepoError(Exception):
    """A repository that cannot be read; the message names it."""


@dataclass(frozen=True)
class RepoRef:
    """A repository to audit: where its objects are, and what to call it."""

    git_dir: Path
    name: str
    url: str | None = None  # the remote it came from, credentials redacted
    branch: str | None = None


def is_git_dir(path: Path) -> bool:
    """A git directory: HEAD, objects and refs (a bare mirror needs no `config`), or a linked
    worktree's private folder, whose objects and refs live in its `commondir`."""
    if not (path / "HEAD").is_file():
        return False
    common = path
    if (path / "commondir").is_file():
        target = Path((path / "commondir").read_text(errors="replace").strip())
        common = target if target.is_absolute() else (path / target)
    return (common / "objects").is_dir() and (common / "refs").exists()


def enclosing_git_dir(path: Path) -> tuple[Path, Path] | None:
    """The repository a folder lies inside (`mlaudit scan repo/src`): (git dir, work tree root)."""
    for folder in path.resolve().parents:
        found = git_dir_of(folder)
        if found is not None:
            return found, folder
    return None


def git_dir_of(path: Path) -> Path | None:
    """The git directory of a work tree or bare repository at `path`, else None."""
    dotgit = path / ".git"
    if dotgit.is_dir() and is_git_dir(dotgit):
        return dotgit
    if dotgit.is_file():  # worktrees and submodules: "gitdir: <path>"
        text = dotgit.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            target = Path(text[7:].strip())
            target = target if target.is_absolute() else (path / target)
            if is_git_dir(target):
                return target
    if is_git_dir(path):
        return path
    return None


def discover(root: Path, max_depth: int = 4) -> Iterator[Path]:
    """Git directories at or under `root`, without following symlinks or entering repos."""
    root = root.resolve()
    found = git_dir_of(root)
    if found is not None:
        yield found
        return
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            children = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for entry in children:
            if not entry.is_dir(follow_symlinks=False) or entry.name in SKIP_DIRS:
                continue
            child = Path(entry.path)
            gd = git_dir_of(child)
            if gd is not None:
                yield gd
            elif depth + 1 < max_depth and not entry.name.startswith("."):
                stack.append((child, depth + 1))


def repo_name(git_dir: Path, root: Path) -> str:
    """A display name: the work tree's path relative to the scan root (its folder name at least)."""
    top = git_dir.parent if git_dir.name == ".git" else git_dir
    try:
        rel = top.resolve().relative_to(root.resolve())
        name = rel.as_posix()
    except ValueError:
        name = top.name
    if name in ("", "."):
        name = top.resolve().name
    return name.removesuffix(".git") or name


def run_git(args: list[str], cwd: Path | None = None, timeout: float = 600,
            env: dict[str, str] | None = None) -> str:
    """`git <args>` with `env` added to the environment (`GIT_ENV`, reading, by default)."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **(GIT_ENV if env is None else env)}, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise RepoError(f"git {args[0]} timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        msg = redact(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
        raise RepoError(f"git {args[0]} failed: {msg}")
    return proc.stdout


_URL_FORMS = re.compile(r"^(?:(?:https?|ssh|git|file)://[^\s/?#]*[^\s]*|[\w.-]+@[\w.-]+:[^\s]+)$", re.IGNORECASE)


def git_url_problem(url: str) -> str | None:
    """Why `url` cannot be mirrored (None when it can): only file/https/http/ssh/git URLs and
    scp-like `user@host:path`, nothing git could take for an option or a transport helper."""
    if not url or url.startswith("-") or any(c in url for c in "\0\n\r") or not _URL_FORMS.match(url):
        return "unsupported repository URL (use https://, http://, ssh://, git://, file:// or user@host:path)"
    host = urlsplit(url).netloc.rpartition("@")[2] if "://" in url else url.partition("@")[2]
    return "not a repository URL (the host starts with '-')" if host.startswith("-") else None


def split_credentials(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The URL without its credentials, and the git settings that authenticate it instead.

    `https://user:password@host/repo` becomes `https://host/repo` plus an `Authorization` header
    scoped to that host (`http.<scheme>://<host>/.extraHeader`), passed in the environment of the
    clone or fetch only: the credentials never reach the mirror's config, a cache folder name, a
    process listing or a message. A password in an ssh URL is dropped (ssh does not use it)."""
    parts = urlsplit(url) if "://" in url else None
    if parts is None or "@" not in parts.netloc:
        return url, ()
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        return clean, ((f"http.{scheme}://{hostport}/.extraHeader", f"Authorization: Basic {token}"),)
    if colon:
        return urlunsplit((parts.scheme, f"{user}@{hostport}", parts.path, parts.query, parts.fragment)), ()
    return url, ()


def cache_path(cache_dir: Path, url: str) -> Path:
    """The mirror folder of `url`: named from its host and path without credentials, plus a hash
    of that credential-free URL (so a rotated token keeps the same mirror)."""
    clean = redact(split_credentials(url)[0])
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", clean.split("://")[-1]).strip("_")[-60:]
    digest = hashlib.sha1(split_credentials(url)[0].encode()).hexdigest()[:10]
    return cache_dir / f"{slug}-{digest}.git"


def web_url(remote: str | None) -> str | None:
    """https://host/owner/repo for GitHub and GitLab remotes, else None."""
    if not remote:
        return None
    m = re.match(r"^(?:https?://(?:[^@/]+@)?|ssh://(?:[^@/]+@)?|git@)([^/:]+)[:/](.+?)(?:\.git)?/?$", remote)
    if not m:
        return None
    host, path = m.group(1), m.group(2)
    host = host.split(":")[0]
    if "github" in host or "gitlab" in host:
        return f"https://{host}/{path}"
    return None


def real_path(path: str, parents: dict[str, str]) -> str:
    """`os.path.realpath(path)` of an absolute, normalised path, with the resolved folders kept
    in `parents` (folder -> real path) between calls: siblings under one folder cost one `lstat`
    each, not one per component of their path. The same answer: a path's real path is its
    parent's real path joined with its name, resolved again only where that is a symlink."""
    parent, name = os.path.split(path)
    if not name or name in (".", "..") or parent == path:
        return os.path.realpath(path)
    real_parent = parents.get(parent)
    if real_parent is None:
        real_parent = parents[parent] = real_path(parent, parents)
    joined = os.path.join(real_parent, name)
    return os.path.realpath(joined) if os.path.islink(joined) else joined


# -- refs read from their files -----------------------------------------------------------------
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_SECTION = re.compile(r"^\s*\[([^\]]*)\]")


class _Unsure(Exception):
    """A layout the light reader does not follow (linked worktrees, config includes, quoting):
    the caller asks GitPython instead."""


def _read_ref_file(path: Path | str) -> str | None:
    # (bytes, decoded once: a re-scan reads four or five of these per repository, and
    # Path.read_text's text layers cost more than the read)
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="strict").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise _Unsure from None


def _packed_refs(git_dir: Path) -> dict[str, str]:
    text = _read_ref_file(git_dir / "packed-refs")
    refs: dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line or line[0] in "#^":
            continue
        sha, _, name = line.partition(" ")
        if _SHA.fullmatch(sha):
            refs[name.strip()] = sha
    return refs


def _resolve_ref(git_dir: Path, name: str, packed: dict[str, str]) -> tuple[str | None, str | None]:
    """(commit, the branch ref it came through) of a ref name, following symbolic refs;
    (None, None) when the ref is absent or unborn."""
    target = None
    for _ in range(6):
        content = _read_ref_file(git_dir / name) if "/" in name or name == "HEAD" else None
        if content is None:
            sha = packed.get(name)
            return (sha, target) if sha else (None, None)
        if content.startswith("ref:"):
            name = content[4:].strip()
            target = name
            continue
        if _SHA.fullmatch(content):
            return content, target
        raise _Unsure
    raise _Unsure  # a cycle of symbolic refs: let GitPython say what it is


def _config_origin_url(git_dir: Path) -> str | None:
    """`remote.origin.url` from a plain config file (no includes, no quoting)."""
    text = _read_ref_file(git_dir / "config")
    if text is None:
        return None
    section = None
    url = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
            if section.lower().startswith("include"):
                raise _Unsure
            line = line[m.end():].strip()
            if not line:
                continue
        if section != 'remote "origin"':
            continue
        key, sep, value = line.partition("=")
        if key.strip().lower() != "url":
            continue
        value = value.strip()
        if not sep or any(c in value for c in '"\\;#') or value.endswith("\\"):
            raise _Unsure
        url = value  # the last one wins, as in git's single-valued reading
    return url or None


def read_head(git_dir: Path, branch: str | None) -> tuple[str | None, str | None, str | None] | None:
    """(commit, branch, origin url) of a repository, read from its ref and config files as
    `GitCollector._head` and `_origin_url` read them through GitPython (the same candidates in the
    same order, the branch as the last part of its ref name); None where it cannot be sure (a
    linked worktree, config includes, quoted values, unreadable files), so the caller asks
    GitPython. No object is read and no process runs."""
    try:
        if (git_dir / "commondir").exists():
            return None
        packed = _packed_refs(git_dir)
        candidates = ([f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"] if branch
                      else ["refs/remotes/origin/HEAD", "HEAD"])
        for path in candidates:
            sha, through = _resolve_ref(git_dir, path, packed)
            if sha is None:
                continue
            name: str | None = path.rsplit("/", 1)[-1]
            if path in ("HEAD", "refs/remotes/origin/HEAD"):
                name = through.rsplit("/", 1)[-1] if through else None
            return sha, name, _config_origin_url(git_dir)
        return None if branch else (None, None, _config_origin_url(git_dir))
    except _Unsure:
        return None


def read_ref(git_dir: Path, name: str = "HEAD") -> str | None:
    """The object a ref names, read from the ref files (following symbolic refs and packed-refs);
    "" when it is absent or unborn; None where the reader is not sure (ask git instead)."""
    try:
        if (git_dir / "commondir").exists():
            return None
        return _resolve_ref(git_dir, name, _packed_refs(git_dir))[0] or ""
    except _Unsure:
        return None
