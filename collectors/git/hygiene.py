"""Repository hygiene: notebooks, dependency pinning, code ownership, linters, documentation."""

from __future__ import annotations

import posixpath
import re
import tomllib

from mlaudit.collectors.git.configs import VENDORED, ConfigIndex, Emit, dir_of, find_line, load_yaml
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

PYTHON_LOCKS = re.compile(
    r"^(poetry\.lock|Pipfile\.lock|uv\.lock|pdm\.lock|pixi\.lock|"
    r"conda-lock\.ya?ml|.*\.conda-lock\.ya?ml|requirements[^/]*\.lock)$"
)
_OUTPUTS = re.compile(r'"outputs"\s*:\s*\[\s*\{')
_STRIP_HOOKS = re.compile(
    r"\b(nbstripout|jupytext|nb-clean|nbdev_clean|nbdev-clean|strip-notebook|"
    r"clear-output)"
)
_SETUP_CMD = re.compile(
    r"^\s*(\$\s+|>\s+|%\s+)?(sudo\s+)?(pip3?|python[\d.]*|python3|poetry|conda|mamba|micromamba|uv|"
    r"pipenv|pdm|hatch|make|docker|docker-compose|git\s+clone|npm|yarn|bash|sh|source|\./|dvc|"
    r"mlflow|kedro|jupyter|pytest|tox|nox|cd|export|streamlit|uvicorn|flask|gunicorn|kubectl|"
    r"helm|terraform|Rscript|R\s+CMD|cmake|cargo|go\s+(run|build|install))\b"
)
_PROSE = re.compile(
    r"(?i)^#|^\S+\s+(sure|is|are|was|were|the|a|an|it|that|this|you|your|will|can|"
    r"should|must|to|and|or|of)\b|.*[a-z]\.$"
)
_GUIDE_NAME = re.compile(
    r"(?i)(install|setup|set-up|getting[-_ ]?started|quick[-_ ]?start|usage|"
    r"contributing|development|run(ning)?)"
)
_LINT_SECTIONS = [
    ("flake8", r"flake8"),
    ("pylint", r"pylint|MASTER|MESSAGES CONTROL"),
    ("isort", r"isort"),
    ("mypy", r"mypy"),
    ("pycodestyle", r"pycodestyle|pep8"),
    ("black", r"black"),
    ("ruff", r"ruff"),
]


def analyze_hygiene(view: RepoView, index: ConfigIndex) -> list[EvidenceItem]:
    emit = Emit(view, index)
    _notebooks(view, emit)
    _dependency_pinning(view, emit)
    _code_ownership(view, emit)
    _linters(view, emit)
    _documentation(view, emit)
    return emit.items


# --- notebooks ---------------------------------------------------------------------------------


def _notebooks(view: RepoView, emit: Emit) -> None:
    notebooks = sorted(
        e.path
        for e in view.with_suffix(".ipynb")
        if ".ipynb_checkpoints/" not in e.path and not VENDORED.search(e.path)
    )
    if not notebooks:
        return
    with_outputs = 0
    for path in notebooks:
        entry = view.entries[path]
        text = view.text(path)
        if text is None:
            # oversize or unreadable: notebooks only get that big by carrying outputs
            with_outputs += entry.size > view.max_blob
        elif _OUTPUTS.search(text):
            with_outputs += 1
    strip_tool = _strip_tool(view)
    py_files = sum(1 for e in view.with_suffix(".py") if not VENDORED.search(e.path))
    folders = sorted({dir_of(p) for p in notebooks})
    emit(
        "notebooks",
        notebooks[0],
        None,
        None,
        count=len(notebooks),
        with_outputs=with_outputs,
        outputs_stripped=with_outputs == 0 or strip_tool is not None,
        strip_tool=strip_tool,
        index=_notebook_index(view, notebooks, folders),
        share_of_code=round(len(notebooks) / (len(notebooks) + py_files), 2),
        folders=folders[:5],
    )


def _strip_tool(view: RepoView) -> str | None:
    pre = view.text(".pre-commit-config.yaml")
    if pre:
        data = load_yaml(pre)
        for repo in (data.get("repos") or []) if isinstance(data, dict) else []:
            for hook in (repo.get("hooks") or []) if isinstance(repo, dict) else []:
                m = _STRIP_HOOKS.search(str(hook.get("id", ""))) if isinstance(hook, dict) else None
                if m:
                    return m.group(1)
    attrs = view.text(".gitattributes") or ""
    for line in attrs.splitlines():
        if not line.strip().startswith("#"):
            m = re.search(r"\bfilter=(nbstripout|jupytext)\b", line)
            if m:
                return m.group(1)
    if view.exists("jupytext.toml") or view.exists(".jupytext.toml") or view.exists(".jupytext"):
        return "jupytext"
    if re.search(r"^\[tool\.jupytext", view.text("pyproject.toml") or "", re.M):
        return "jupytext"
    return None


def _notebook_index(view: RepoView, notebooks: list[str], folders: list[str]) -> bool:
    # the shallowest notebook folder is where an index would live
    for folder in sorted(folders, key=lambda f: (f.count("/") if f else -1, f))[:3]:
        for name in (
            "README.md",
            "README.rst",
            "index.md",
            "INDEX.md",
            "readme.md",
            "README.ipynb",
            "index.ipynb",
        ):
            path = f"{folder}/{name}" if folder else name
            text = view.text(path) if view.exists(path) else None
            if not text:
                continue
            listed = [nb for nb in notebooks if _names_notebook(text, posixpath.basename(nb))]
            if listed:
                return True
    return False


def _names_notebook(text: str, name: str) -> bool:
    stem = name.rsplit(".", 1)[0]
    return name in text or (
        len(stem) >= 5 and re.search(rf"(?<![\w-]){re.escape(stem)}(?![\w-])", text) is not None
    )


# --- dependency pinning ------------------------------------------------------------------------

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")
_NOT_PRIMARY = re.compile(r"(?i)(dev|test|doc|lint|ci|build|optional|extra|example|bench)")
_UNPINNED_TOKEN = {"python", "pip"}


def _req_lines(view: RepoView, path: str, seen: set[str]) -> tuple[list[str], set[str]]:
    """Requirement specs of one requirements file, following -r includes; and -c pinned names."""
    if path in seen:
        return [], set()
    seen.add(path)
    text = view.text(path) or ""
    reqs: list[str] = []
    constrained: set[str] = set()
    for raw in text.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        m = re.match(r"^(-r|--requirement|-c|--constraint)\s*=?\s*(\S+)", line)
        if m:
            target = posixpath.normpath(posixpath.join(dir_of(path), m.group(2)))
            sub, sub_c = _req_lines(view, target, seen)
            if m.group(1) in ("-c", "--constraint"):
                constrained |= {_name(s) for s in sub if _pinned(s)}
            else:
                reqs += sub
                constrained |= sub_c
            continue
        if line.startswith("-") or line in (".",) or line.startswith("./"):
            continue  # -e ., --index-url, --hash lines of their own
        if "{%" in line or "{{" in line:
            line = re.sub(r"\{%.*?%\}|\{\{.*?\}\}", "", line).strip()
            if not line:
                continue  # a template directive, not a requirement
        reqs.append(line)
    return reqs, constrained


def _name(spec: str) -> str:
    m = _REQ_NAME.match(spec)
    return (m.group(1) if m else spec).lower().replace("_", "-")


def _pinned(spec: str) -> bool:
    spec = spec.split(";", 1)[0].strip()
    if re.search(r"(://|^git\+|@\s*\S+://)", spec):
        return bool(re.search(r"@[0-9a-f]{7,40}\b|@v?\d+\.\d+", spec))
    if "===" in spec or re.search(r"==\s*[\w.]+(\s|,|$)", spec) and "*" not in spec:
        return True
    # conda single '=' pins (numpy=1.26 or numpy=1.26.4=py311h...)
    return bool(re.match(r"^[A-Za-z0-9._-]+\s*=\s*\d[\w.]*", spec))


def _pyproject_specs(text: str) -> list[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return []
    specs = [str(s) for s in (data.get("project") or {}).get("dependencies") or []]
    poetry = ((data.get("tool") or {}).get("poetry") or {}).get("dependencies") or {}
    for name, value in poetry.items() if isinstance(poetry, dict) else []:
        if name.lower() == "python":
            continue
        version = value.get("version", "") if isinstance(value, dict) else str(value)
        if isinstance(value, dict) and ("git" in value or "path" in value):
            version = "==git" if value.get("rev") or value.get("tag") else ""
        exact = re.fullmatch(r"\s*=?=?\s*\d[\w.]*\s*", version or "")
        specs.append(f"{name}=={version.lstrip('=')}" if exact else f"{name}{version}")
    return specs


_REQ_FILE = re.compile(r"requirements[^/]*\.(txt|in)$")
_REQ_FOLDER_FILE = re.compile(r"(.*/)?requirements/[^/]+\.txt$")
_CONDA_FILE = re.compile(r"(environment|conda)[^/]*\.ya?ml$")


def _dependency_pinning(view: RepoView, emit: Emit) -> None:
    # an MLflow model directory (its `MLmodel` file beside them) holds the requirements and conda
    # environment MLflow wrote for that model, pinned by MLflow: not the project's own
    entries = view.entries
    models = {posixpath.dirname(p) for p, e in entries.items() if e.name == "MLmodel"}
    paths = [p for p in entries if not VENDORED.search(p) and not (models and posixpath.dirname(p) in models)]
    names = {p: entries[p].name for p in paths}
    locks = [p for p in paths if PYTHON_LOCKS.match(names[p])]
    hashed_reqs = []
    req_files = [p for p in paths if _REQ_FILE.match(names[p]) or (
        "requirements/" in p and _REQ_FOLDER_FILE.match(p))]
    for p in req_files:
        if p.endswith(".txt") and "--hash=" in (view.text(p) or ""):
            hashed_reqs.append(p)
    locks += hashed_reqs
    primary = [
        p
        for p in req_files
        if p.endswith(".txt")
        and p not in hashed_reqs
        and not _NOT_PRIMARY.search(posixpath.basename(p).replace("requirements", ""))
    ]
    specs: list[str] = []
    constrained: set[str] = set()
    used: list[str] = []
    seen: set[str] = set()
    for p in primary:
        reqs, cons = _req_lines(view, p, seen)
        if reqs:
            used.append(p)
        specs += reqs
        constrained |= cons
    for p in (p for p in paths if names[p] == "pyproject.toml"):
        got = _pyproject_specs(view.text(p) or "")
        if got:
            used.append(p)
            specs += got
    for p in (p for p in paths if _CONDA_FILE.match(names[p])):
        data = load_yaml(view.text(p) or "")
        deps = data.get("dependencies") if isinstance(data, dict) else None
        if not isinstance(deps, list):
            continue
        got = []
        for d in deps:
            if isinstance(d, str):
                got.append(d)
            elif isinstance(d, dict) and isinstance(d.get("pip"), list):
                got += [str(x) for x in d["pip"] if not str(x).startswith("-")]
        if got:
            used.append(p)
            specs += got
    specs = [s for s in specs if _name(s) not in _UNPINNED_TOKEN]
    if not specs and not locks:
        for p in (p for p in paths if names[p] == "setup.py"):
            m = re.search(r"install_requires\s*=\s*\[(.*?)\]", view.text(p) or "", re.S)
            if m:
                got = re.findall(r"['\"]([^'\"]+)['\"]", m.group(1))
                if got:
                    used.append(p)
                    specs += got
    if not specs and not locks:
        return
    pinned_n = sum(1 for s in specs if _pinned(s) or _name(s) in constrained)
    share = round(pinned_n / len(specs), 2) if specs else None
    where = (locks or used)[0]
    emit(
        "dependency_pinning",
        where,
        None,
        None,
        pinned=bool(locks) or (share is not None and share >= 0.8),
        lock_files=locks[:10],
        pinned_share=share,
        requirements=len(specs),
        requirement_files=used[:10],
    )


# --- CODEOWNERS ---------------------------------------------------------------------------------


def _code_ownership(view: RepoView, emit: Emit) -> None:
    for path in ("CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"):
        text = view.text(path) if view.exists(path) else None
        if not text:
            continue
        owners: list[str] = []
        first = None
        rules = 0
        for n, raw in enumerate(text.splitlines(), 1):
            line = (
                raw.split("#", 1)[0].strip() if not raw.strip().startswith("\\#") else raw.strip()
            )
            if not line or re.match(r"^\^?\[.*\]", line):
                continue
            tokens = [t for t in line.split()[1:] if t.startswith("@") or "@" in t]
            if tokens:
                rules += 1
                first = first or (n, raw.strip())
                owners += [t for t in tokens if t not in owners]
        if rules and first:
            emit(
                "code_ownership",
                path,
                first[0],
                first[1],
                owners=owners[:20],
                teams=[o for o in owners if o.startswith("@") and "/" in o][:20],
                rules=rules,
            )


# --- linters -----------------------------------------------------------------------------------


def _linters(view: RepoView, emit: Emit) -> None:
    pre = (
        ".pre-commit-config.yaml"
        if view.exists(".pre-commit-config.yaml")
        else (".pre-commit-config.yml" if view.exists(".pre-commit-config.yml") else None)
    )
    if pre:
        text = view.text(pre) or ""
        data = load_yaml(text)
        hooks = [
            str(h.get("id"))
            for r in ((data or {}).get("repos") or [] if isinstance(data, dict) else [])
            if isinstance(r, dict)
            for h in (r.get("hooks") or [])
            if isinstance(h, dict) and h.get("id")
        ]
        if hooks:
            found = find_line(text, r"^\s*-?\s*id\s*:") or (1, "")
            emit("pre_commit_or_lint", pre, found[0], found[1], tool="pre-commit", hooks=hooks[:20])
    for path in view.paths:
        if VENDORED.search(path) or path.count("/") > 2:
            continue
        name = posixpath.basename(path)
        if name in (
            ".flake8",
            ".pylintrc",
            "pylintrc",
            "ruff.toml",
            ".ruff.toml",
            "mypy.ini",
            ".mypy.ini",
            ".isort.cfg",
            ".pycodestyle",
        ):
            text = view.text(path) or ""
            if not re.search(r"^\s*[^#;\s]", text, re.M):
                continue  # empty or all comments
            tool = {
                ".flake8": "flake8",
                ".pylintrc": "pylint",
                "pylintrc": "pylint",
                "ruff.toml": "ruff",
                ".ruff.toml": "ruff",
                "mypy.ini": "mypy",
                ".mypy.ini": "mypy",
                ".isort.cfg": "isort",
                ".pycodestyle": "pycodestyle",
            }[name]
            found = find_line(text, r"^\s*[^#;\s]") or (1, "")
            emit("pre_commit_or_lint", path, found[0], found[1], tool=tool)
        elif name in ("setup.cfg", "tox.ini"):
            text = view.text(path) or ""
            for tool, rx in _LINT_SECTIONS:
                found = find_line(text, rf"^\[(tool:)?({rx})(:[^\]]*)?\]")
                if found and tool not in ("black", "ruff"):
                    emit("pre_commit_or_lint", path, found[0], found[1], tool=tool)
        elif name == "pyproject.toml":
            text = view.text(path) or ""
            for tool, rx in _LINT_SECTIONS:
                found = find_line(text, rf"^\[tool\.({rx})[\].]")
                if found:
                    emit("pre_commit_or_lint", path, found[0], found[1], tool=tool)
        elif name in ("Makefile", "makefile", "GNUmakefile", "justfile", "Justfile"):
            text = view.text(path) or ""
            found = find_line(text, r"^(lint|style|check-style|format-check)\s*:")
            if found:
                emit("pre_commit_or_lint", path, found[0], found[1], tool="make")
            else:
                found = _make_lint_recipe(text)
                if found:
                    emit("pre_commit_or_lint", path, found[0], found[1], tool=found[2],
                         source="make")


def _make_lint_recipe(text: str) -> tuple[int, str, str] | None:
    """(line, text, tool) of a Makefile/justfile recipe line running a linter, whatever the
    target is called (`quality_checks:` running pylint, say); comments are not recipes."""
    from mlaudit.collectors.git.ci import _INSTALL, _LINT

    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.startswith(("\t", "    ")):
            continue
        line = raw.strip().lstrip("@-").strip()
        if not line or line.startswith("#") or _INSTALL.search(line):
            continue  # comments, and installing a linter is not running it
        for tool, rx in _LINT:
            if tool != "make" and rx.search(line):
                return n, raw.strip(), tool
    return None


# --- documentation -------------------------------------------------------------------------------


_SETUP_HEADING = re.compile(
    r"(?i)\b(install\w*|set[- ]?up|getting[- ]started|quick[- ]?start|usage|how to|running|run\b|"
    r"reproduc\w*|step[- ]by[- ]step|prerequisites?|requirements|build(ing)?|deploy\w*|local(ly)?|"
    r"development|environment|virtual[- ]?env|steps?)\b"
)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_IMPERATIVE = re.compile(
    r"(?i)^\s*(?:[-*+]|\d+[.)])?\s*(?:then\s+)?(run|execute|install|type|launch|start|use|enter|create)\b"
)
_ENV_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")


def _inline_command(span: str) -> bool:
    """An inline code span that is a command with arguments (`make setup`, `python train.py`),
    not a bare tool name (`docker`) or an identifier."""
    cmd = _ENV_PREFIX.sub("", span.strip())
    return bool(_SETUP_CMD.match(cmd)) and len(cmd.split()) >= 2 and not _PROSE.match(cmd)


def _readme_commands(text: str, rst: bool) -> list[tuple[int, str]]:
    """Command lines inside fenced/indented code blocks (not prose), and inline-code commands
    (`pip install -r requirements.txt`) in set-up sections, whatever the heading says ("How to
    run training - Step by step guide", "Virtual env"), or after an imperative ("1. Run `make
    setup`")."""
    out: list[tuple[int, str]] = []
    in_fence = False
    prev_blank = True
    in_rst_block = False
    setup_section = False
    open_headings: list[tuple[int, bool]] = []  # (level, set-up) of the enclosing headings
    lines = text.splitlines()
    for n, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if re.match(r"^\s*(```|~~~)", raw):
            in_fence = not in_fence
            continue
        if not in_fence:
            heading = _HEADING.match(raw)
            title, level = (heading.group(2), len(heading.group(1))) if heading else (None, 0)
            if title is None and n < len(lines) and _RST_UNDERLINE.match(lines[n]) and stripped:
                title, level = stripped, 1
            if title is not None:  # a sub-section of a set-up section is set-up too
                while open_headings and open_headings[-1][0] >= level:
                    open_headings.pop()
                own = bool(_SETUP_HEADING.search(title))
                open_headings.append((level, own or bool(open_headings and open_headings[-1][1])))
                setup_section = open_headings[-1][1]
                prev_blank = False
                continue
            if "`" in raw and (setup_section or _IMPERATIVE.match(raw)):
                span = next((m.group(1) for m in _INLINE_CODE.finditer(raw) if _inline_command(m.group(1))), None)
                if span is not None:
                    out.append((n, span.strip()))
                    prev_blank = not stripped
                    continue
        if rst and re.search(r"::\s*$", raw):
            in_rst_block = True
            prev_blank = False
            continue
        indented = raw.startswith(("    ", "\t")) and (
            prev_blank or out and out[-1][0] == n - 1 or in_rst_block
        )
        if stripped and not raw.startswith((" ", "\t")):
            in_rst_block = False
        if (in_fence or indented) and _SETUP_CMD.match(stripped) and not _PROSE.match(stripped):
            out.append((n, stripped))
        prev_blank = not stripped
    return out


def _documentation(view: RepoView, emit: Emit) -> None:
    readme = next(
        (
            p
            for p in (
                "README.md",
                "README.rst",
                "README.txt",
                "README",
                "readme.md",
                "Readme.md",
                "README.markdown",
            )
            if view.exists(p)
        ),
        None,
    ) or next(  # README.MD, Readme.rst, readme.txt, ...
        (
            p
            for p in sorted(view.paths)
            if "/" not in p
            and p.lower() in ("readme.md", "readme.rst", "readme.txt", "readme", "readme.markdown")
        ),
        None,
    )
    commands: list[tuple[int, str]] = []
    guides: list[str] = []
    if readme:
        text = view.text(readme) or ""
        commands = _readme_commands(text, readme.lower().endswith(".rst"))
        for target in re.findall(r"\]\(\s*(?:\./)?([^)\s#]+)", text):
            if "://" not in target and view.exists(target) and _GUIDE_NAME.search(target):
                guides.append(target)
    doc_pages = [
        p
        for p in view.paths
        if p.startswith(("doc/", "docs/")) and re.match(r"^docs?/.+\.(md|rst|mdx|ipynb)$", p)
        and not posixpath.basename(p).lower().startswith("codeowners")
    ]
    docs_site = next(
        (
            p
            for p in (
                "mkdocs.yml",
                "mkdocs.yaml",
                "docs/conf.py",
                "doc/conf.py",
                "docs/source/conf.py",
            )
            if view.exists(p)
        ),
        None,
    )
    model_cards = [
        p
        for p in view.paths
        if not VENDORED.search(p)
        and re.match(
            r"(?i)^(model[-_]?card[^/]*\.(md|ya?ml|json)|modelcard[^/]*\.(md|ya?ml|json))$",
            posixpath.basename(p),
        )
    ]
    if not (commands or guides or doc_pages or docs_site or model_cards):
        return
    line, excerpt = commands[0] if commands else (None, None)
    emit(
        "documentation",
        readme or docs_site or (doc_pages or model_cards)[0],
        line,
        excerpt,
        setup_commands=len(commands),
        setup_guides=guides[:5],
        docs_folder=bool(doc_pages or docs_site),
        docs_pages=len(doc_pages),
        docs_site=docs_site,
        model_cards=model_cards[:10],
    )
