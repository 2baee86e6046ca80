"""CI definitions at the paths their CI systems read, and what their steps run.

Commands are taken only from the keys a CI system executes (`run`, `script`, `commands`, ...),
after YAML parsing has dropped comments; shell comments and install lines are skipped, so
`pip install pytest` is not "runs tests" and `# python train.py` is not training.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from mlaudit.collectors.git.configs import (
    VENDORED,
    ConfigDoc,
    ConfigIndex,
    find_line,
    key_line,
    load_yaml,
    mentions_training,
    strings,
)
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

COMMAND_KEYS = {
    "run",
    "script",
    "scripts",
    "before_script",
    "after_script",
    "command",
    "commands",
    "args",
    "bash",
    "pwsh",
    "powershell",
    "inlineScript",
    "scriptPath",
    "arguments",
    "entrypoint",
    "cmd",
    "before_install",
    "install_script",
}

_INSTALL = re.compile(
    r"\b(pip3?|python[\d.]*\s+-m\s+pip|uv\s+pip|uv\s+add|conda|mamba|micromamba|poetry|pipx|"
    r"apt(-get)?|yum|apk|brew|npm|yarn|pnpm|pipenv)\s+(install|add|sync|update|upgrade)\b"
)
_TEST = re.compile(
    r"(^|[\s/\"'(=])(py\.test|pytest)(\s|$|[\"')])|\bpython[\d.]*\s+-m\s+(pytest|unittest|nose2?)\b"
    r"|(^|[\s&;])(tox|nox)(\s|$)|\bnosetests\b|\bcoverage\s+run\b|\bsetup\.py\s+test\b"
    r"|\bhatch\s+(test|run\s+\S*test\S*)\b"
    r"|\bmake\s+(-\S+\s+)*([\w-]+\s+)*(test|tests|check|unittest|unit[-_]?tests?|coverage|test[-_]\w+)\b"
    r"|\b(go|cargo|mvn|\S*gradlew?|npm|yarn|pnpm|bazel)\s+(run\s+)?test\b|\bmvn\s+verify\b"
    # a test script run directly: `python3 test/test.py`, `python tests/test_api.py`
    r"|\bpython[\d.]*\s+(\S*/)?(tests?(_\w+)?|\w+_tests?)\.py\b"
)
_LINT = [
    ("ruff", re.compile(r"(^|\s)ruff(\s|$)")),
    ("flake8", re.compile(r"(^|\s|-m\s)flake8\b")),
    ("pylint", re.compile(r"(^|\s|-m\s)pylint\b")),
    ("mypy", re.compile(r"(^|\s|-m\s)mypy\b")),
    ("black", re.compile(r"(^|\s|-m\s)black\b.*--(check|diff)\b")),
    ("isort", re.compile(r"(^|\s|-m\s)isort\b.*--(check|check-only|diff)\b")),
    ("pre-commit", re.compile(r"\bpre-commit\s+run\b")),
    ("make", re.compile(r"\bmake\s+([\w-]+\s+)*(lint|style|check-format|format-check)\b")),
]
_LINT_ACTIONS = [
    ("pre-commit", re.compile(r"(^|/)pre-commit(-ci)?/action|pre-commit/action")),
    ("ruff", re.compile(r"ruff-action|ruff-check")),
    ("black", re.compile(r"^psf/black")),
    ("flake8", re.compile(r"flake8")),
    ("pylint", re.compile(r"pylint")),
    ("super-linter", re.compile(r"super-linter")),
    ("lint-action", re.compile(r"lint-action")),
]
_RUNNER = (
    r"(^|[\s/(])(python[\d.]*|py|Rscript|bash|sh|poetry\s+run|uv\s+run|pdm\s+run|hatch\s+run|"
    r"pipenv\s+run|conda\s+run|accelerate\s+launch|torchrun|deepspeed|spark-submit|make|just|"
    r"invoke|docker(-compose|\s+compose)?\s+run|\./\S+)\b"
)
_ML_STEPS: list[tuple[str, re.Pattern[str]]] = [
    (
        "train",
        re.compile(
            _RUNNER + r".*(?i:(?<![a-z])(re)?train(ing|er)?(?![a-z]))"
            r"|\bdvc\s+(repro|exp\s+run)\b|\bmlflow\s+run\b|\bsagemaker\s+create-training-job\b"
            r"|\bgcloud\s+(beta\s+)?ai(-platform)?\s+(custom-jobs|jobs\s+submit\s+training)\b"
        ),
    ),
    (
        "evaluate",
        re.compile(
            _RUNNER
            + r".*(?i:(?<![a-z])eval(uate|uation)?(?![a-z]))|\bdvc\s+metrics\s+(diff|show)\b"
            r"|\bcml[\s-](send-comment|comment|publish|report)\b"
        ),
    ),
    (
        "deploy",
        re.compile(
            _RUNNER + r".*(?i:(?<![a-z])deploy[\w-]*\.py)|(?i:\bdeploy\w*[\s_-]+(model|endpoint))"
            r"|\bsagemaker\s+(create|update)-endpoint\b|\bgcloud\s+ai\s+endpoints\s+(deploy-model|create)\b"
            r"|\baz\s+ml\s+online-(endpoint|deployment)\s+(create|update)\b"
            r"|\bmlflow\s+(models\s+(serve|build-docker)|deployments\s+create)\b"
            r"|\bbentoml\s+(deploy|containerize)\b|\bkubectl\s+apply\b.*(?i:inference|serving|kserve|seldon)"
        ),
    ),
    (
        "data_tests",
        re.compile(
            r"\b(great_expectations|gx)\b.*\bcheckpoint\b|\bsoda\s+scan\b|\bdbt\s+(test|build)\b"
            r"|(?i:(validate|check)[_-]?data|data[_-]?(validation|quality|tests?|checks?))"
            r"|\bdeepchecks\b"
        ),
    ),
    (
        "pipeline",
        re.compile(
            r"\bkfp\s+(run|pipeline|dsl)|\bdsl-compile\b|\bkedro\s+run\b|\bzenml\s+pipeline\b"
            r"|\bargo\s+submit\b|\brun-pipeline\s+--module-name\b|\bprefect\s+(deploy|deployment\s+(run|build|apply))\b"
            r"|\bsagemaker\s+(start-pipeline-execution|create-pipeline|update-pipeline)\b"
            r"|\baz\s+ml\s+job\s+create\b.*pipeline|\bflow\.py\s+(run|step-functions|argo-workflows)\b"
            r"|" + _RUNNER + r".*(?i:(?<![a-z])pipelines?(?![a-z]))"
        ),
    ),
]
# A model deployment by infrastructure: the CI resolves a model (a registry package, say) and
# then deploys a stack (SageMaker project templates: `build.py --model-package-group-name`,
# then `cdk deploy` / `aws cloudformation deploy` / Jenkins `cfnUpdate`).
_MODEL_REF = re.compile(r"(?i)model[-_]package|--model[-_](name|arn|uri|version)\b|\bmodel\.tar\.gz\b")
_INFRA_DEPLOY = re.compile(
    r"\bcdk\s+deploy\b|\bcloudformation\s+(deploy|package|create-stack|update-stack)\b"
    r"|\bsam\s+deploy\b|\bterraform\s+apply\b|\bcfn(Update|Create|Deploy)\b"
)
# GitHub Actions / orbs that run data checks
_DATA_TEST_ACTIONS = re.compile(
    r"(?i)soda-github-action|sodadata/|great[-_]expectations[-_]action|great-expectations/|"
    r"dbt-action|deepchecks"
)
_PURPOSE = [
    ("dependency_bot", re.compile(r"(?i)dependabot|renovate|pyup|dependency-review")),
    ("stale", re.compile(r"(?i)actions/stale|stale-bot|close-stale|lock-threads")),
    (
        "docs",
        re.compile(
            r"(?i)mkdocs\s+gh-deploy|sphinx-build|peaceiris/actions-gh-pages|"
            r"deploy-pages|jekyll|make\s+(html|docs)"
        ),
    ),
]
_GH_TRIGGERS = {
    "push": "push",
    "pull_request": "pull_request",
    "pull_request_target": "pull_request",
    "schedule": "schedule",
    "workflow_dispatch": "manual",
    "release": "release",
    "workflow_call": "called",
    "repository_dispatch": "external",
    "merge_group": "merge",
    "workflow_run": "workflow_run",
}
_GITLAB_RESERVED = {
    "stages",
    "variables",
    "include",
    "default",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "types",
    "pages",
}


_TEMPLATE_STEPS: list[tuple[str, re.Pattern[str]]] = [
    ("train", re.compile(r"(?<![a-z])(re)?train(ing|er)?(?![a-z])")),
    ("evaluate", re.compile(r"(?<![a-z])eval(uate|uation)?(?![a-z])")),
    (
        "deploy",
        re.compile(
            r"(?<![a-z])deploy\w*\s+.*\b(endpoints?|models?|online|serving|inference|scoring)\b"
            r"|(?<![a-z])(endpoints?|models?|online|serving|inference)\s+.*deploy"
        ),
    ),
    ("data_tests", re.compile(r"(?<![a-z])(data\s+(validation|quality|tests?|checks?)|validate\s+data)\b")),
    ("pipeline", re.compile(r"(?<![a-z])pipelines?(?![a-z])")),
]


def template_words(ref: str) -> str:
    """`templates/x/deploy-training-pipeline.yml@repo` -> `deploy training pipeline`."""
    base = ref.split("@", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    base = re.sub(r"\.ya?ml$", "", base)
    return " ".join(re.split(r"[-_.\s]+", base)).lower().strip()


@dataclass
class Commands:
    """What a CI definition runs, classified.

    `templates` are the names of step templates or reusable workflows the definition calls
    (Azure `template: ...@repo`, GitHub `uses: org/repo/.github/workflows/x.yml@ref`): their
    bodies live elsewhere, so what they do is read from their names.
    """

    segments: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    #: test commands whose failure the definition swallows (`pytest || true`, a step or job that
    #: may fail: `continue-on-error: true`, `allow_failure: true`, `continueOnError: true`)
    ignored: list[str] = field(default_factory=list)

    def add(self, texts: Iterable[str], swallowed: Collection[str] = ()) -> None:
        """`swallowed`: command texts of steps allowed to fail, each counted as often as such a
        step holds it (the same `pytest` may also run, gating, in another job)."""
        left = Counter(swallowed)
        for text in texts:
            whole = left[str(text)] > 0
            if whole:
                left[str(text)] -= 1
            for raw in str(text).splitlines():
                line = raw.strip()
                if not line or line.startswith(("#", "//", "echo ", "REM ")):
                    continue
                parts = re.split(r"(&&|\|\||;)", line)
                for i in range(0, len(parts), 2):
                    seg = parts[i].strip()
                    if seg and not _INSTALL.search(seg):
                        self.segments.append(seg)
                        if _TEST.search(seg) and (whole or _swallows(parts, i)):
                            self.ignored.append(seg)

    #: what the properties below found, with the lengths of the lists they read (which only
    #: grow: `add` and merging jobs append), so a property is worked out again only after a change
    _memo: dict[str, tuple[tuple[int, ...], Any]] = field(default_factory=dict, repr=False, compare=False)

    def _remembered(self, name: str, work: Callable[[], Any]) -> Any:
        state = (len(self.segments), len(self.uses), len(self.templates), len(self.ignored))
        kept = self._memo.get(name)
        if kept is not None and kept[0] == state:
            return kept[1]
        value = work()
        self._memo[name] = (state, value)
        return value

    @property
    def _tests(self) -> list[str]:
        """The segments that run tests."""
        return self._remembered("tests", lambda: [s for s in self.segments if _TEST.search(s)])

    @property
    def _untested(self) -> list[str]:
        """The segments that run no tests (`pytest tests/test_train.py` tests training, it does
        not train)."""
        return self._remembered("untested", self._find_untested)

    def _find_untested(self) -> list[str]:
        tests = set(self._tests)
        return [s for s in self.segments if s not in tests]

    @property
    def runs_tests(self) -> bool:
        return bool(self._tests)

    @property
    def tests_gate(self) -> bool:
        """Whether some test command's failure fails the run (not all are swallowed)."""
        return bool(Counter(self._tests) - Counter(self.ignored))

    @property
    def lint_tools(self) -> list[str]:
        return list(self._remembered("lint", self._lint_tools))

    def _lint_tools(self) -> list[str]:
        found = {name for name, rx in _LINT for s in self.segments if rx.search(s)}
        found |= {name for name, rx in _LINT_ACTIONS for u in self.uses if rx.search(u)}
        return sorted(found)

    @property
    def ml_steps(self) -> list[str]:
        return list(self._remembered("ml_steps", self._ml_steps))

    def _ml_steps(self) -> list[str]:
        found = []
        for name, rx in _ML_STEPS:
            for s in (self._untested if name in ("train", "evaluate") else self.segments):
                if rx.search(s):
                    found.append(name)
                    break
        if "deploy" not in found and any(_INFRA_DEPLOY.search(s) for s in self.segments) and any(
            _MODEL_REF.search(s) for s in self.segments
        ):
            found.append("deploy")
        if "data_tests" not in found and any(_DATA_TEST_ACTIONS.search(u) for u in self.uses):
            found.append("data_tests")
        names = [template_words(t) for t in self.templates]
        for name, rx in _TEMPLATE_STEPS:
            if name not in found and any(rx.search(n) for n in names):
                found.append(name)
        return [name for name, _ in _ML_STEPS if name in found]

    @property
    def trains(self) -> bool:
        steps = self.ml_steps
        return "train" in steps or ("pipeline" in steps and any(map(mentions_training, self._untested)))

    def purpose(self) -> str | None:
        blob = "\n".join(self.segments + self.uses)
        for name, rx in _PURPOSE:
            if rx.search(blob):
                return name
        return None

    def first_line(self, text: str) -> tuple[int, str] | None:
        """Line of the first command that tests, trains or otherwise matters."""
        for s in self.segments:
            if _TEST.search(s) or any(rx.search(s) for _, rx in _ML_STEPS):
                return find_line(text, re.escape(s[:60]))
        return None


_REUSABLE_WORKFLOW = re.compile(r"(^\./|/)\.github/workflows/[^/@]+\.ya?ml(@|$)")


#: what a shell runs after `||` to make a failed command succeed
_SWALLOW = re.compile(r"^(true|:|/bin/true|exit\s+0|echo\b.*|printf\b.*)$")
#: a step or job allowed to fail (GitHub Actions, GitLab CI, Azure Pipelines)
_MAY_FAIL_KEYS = ("continue-on-error", "allow_failure", "continueOnError")


def _swallows(parts: list[str], i: int) -> bool:
    """Whether the command at `parts[i]` (a `re.split` with the operators kept) is followed by
    `|| true` (or `|| exit 0`, `|| echo ...`): its failure never fails the step."""
    j = i + 1
    while j + 1 < len(parts) and parts[j] == "&&":
        j += 2  # `pytest && x || true`: the whole chain's failure is swallowed
    return j + 1 < len(parts) and parts[j] == "||" and bool(_SWALLOW.match(parts[j + 1].strip()))


def _may_fail_texts(node: Any) -> list[str]:
    """The command strings of every step or job that is allowed to fail (once each)."""
    if isinstance(node, dict):
        flag = next((node[k] for k in _MAY_FAIL_KEYS if k in node), None)
        if flag is True or str(flag).strip().lower() == "true":
            return list(strings(node, COMMAND_KEYS))
        return [t for v in node.values() for t in _may_fail_texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _may_fail_texts(v)]
    return []


def _commands(node: Any) -> Commands:
    cmds = Commands()
    cmds.add(list(strings(node, COMMAND_KEYS)), _may_fail_texts(node))
    cmds.uses = [u for u in strings(node, {"uses", "orb", "orbs"})]
    cmds.templates = [t for t in strings(node, {"template"}) if re.search(r"\.ya?ml(@|$)", t)]
    cmds.templates += [u for u in cmds.uses if _REUSABLE_WORKFLOW.search(u)]
    return cmds


def _cron_strings(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "cron" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_cron_strings(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_cron_strings(v))
    return out


@dataclass
class CiFile:
    tool: str
    path: str
    text: str
    triggers: list[str]
    commands: Commands
    schedules: list[str]
    line: int
    excerpt: str
    scheduled_training: bool = False


def analyze_ci(view: RepoView, index: ConfigIndex) -> list[EvidenceItem]:
    found: list[CiFile] = []
    by_path: dict[str, list[ConfigDoc]] = {}
    for doc in index.docs:
        by_path.setdefault(doc.path, []).append(doc)
    gitlab_paths = _gitlab_paths(index, by_path)
    claimed: set[str] = set()
    for path, docs in by_path.items():
        data = docs[0].data
        text = docs[0].text
        if not isinstance(data, dict):
            continue
        name = path.rsplit("/", 1)[-1]
        ci: CiFile | None = None
        if re.fullmatch(r"\.github/workflows/[^/]+\.ya?ml", path):
            ci = _github(path, text, data)
        elif path in gitlab_paths:
            ci = _gitlab(path, text, data)
        elif path == ".circleci/config.yml" or path == ".circleci/config.yaml":
            ci = _circleci(path, text, data)
        elif re.fullmatch(r"\.buildkite/pipeline[^/]*\.ya?ml", path):
            ci = _simple("buildkite", path, text, data, ["push"])
        elif re.search(r"buildspec[^/]*\.ya?ml$", name) and "phases" in data:
            ci = _simple("codebuild", path, text, data, [])
        elif (re.match(r"cloudbuild[^/]*\.ya?ml$", name) and "steps" in data) or (
            not path.startswith(".github/") and _cloud_build_shape(data)
        ):
            ci = _cloud_build(path, text, data)
        elif path in (".taskcluster.yml", ".taskcluster.yaml") and "tasks" in data:
            ci = _taskcluster(path, text, data)
        elif path == ".travis.yml":
            ci = _simple("travis", path, text, data, ["push", "pull_request"])
        elif path == "bitbucket-pipelines.yml":
            ci = _simple("bitbucket_pipelines", path, text, data, ["push"])
        elif _azure_candidate(path, name, data):
            ci = _azure(path, text, data)
        if ci:
            found.append(ci)
            claimed.add(path)
    for entry in view.entries.values():
        if (
            entry.name == "Jenkinsfile"
            or entry.name.startswith("Jenkinsfile.")
            or entry.name.endswith(".jenkinsfile")
        ) and not VENDORED.search(entry.path):
            text = view.text(entry.path)
            if text:
                found.append(_jenkins(entry.path, text))
    items = []
    for ci in found:
        cmds = ci.commands
        via = None if cmds.runs_tests else tests_via_targets(view, cmds)
        attrs: dict[str, Any] = dict(
            tool=ci.tool,
            triggers=sorted(set(ci.triggers)),
            runs_tests=cmds.runs_tests or via is not None,
            lint=bool(cmds.lint_tools),
            lint_tools=cmds.lint_tools,
            ml_steps=cmds.ml_steps,
            schedules=ci.schedules,
        )
        if via is not None:
            attrs["tests_via"] = via
        elif cmds.runs_tests and not cmds.tests_gate:
            attrs["tests_ignored"] = True  # every test run's failure is swallowed
        purpose = cmds.purpose()
        if purpose and not attrs["runs_tests"] and not attrs["ml_steps"]:
            attrs["purpose"] = purpose
        items.append(view.evidence("ci_pipeline", ci.path, ci.line, ci.excerpt, **attrs))
        for tool in cmds.lint_tools:
            items.append(
                view.evidence(
                    "pre_commit_or_lint", ci.path, ci.line, ci.excerpt, tool=tool, source="ci"
                )
            )
        if ci.scheduled_training or ("schedule" in ci.triggers and cmds.trains):
            where = find_line(ci.text, r"\bcron\b") or (ci.line, ci.excerpt)
            items.append(
                view.evidence(
                    "scheduled_retraining",
                    ci.path,
                    where[0],
                    where[1],
                    trigger="ci_schedule",
                    tool=ci.tool,
                    schedule=ci.schedules[0] if ci.schedules else None,
                    drift_triggered=False,
                )
            )
    return items + _refused(view, index)


#: where each CI service reads its definition: a file there that is not YAML, the service refuses
#: (GitHub: "Invalid workflow file"), so it runs nothing
_CI_PLACES = (
    (re.compile(r"\.github/workflows/[^/]+\.ya?ml"), "github_actions"),
    (re.compile(r"\.gitlab-ci\.ya?ml"), "gitlab_ci"),
    (re.compile(r"\.circleci/config\.ya?ml"), "circleci"),
    (re.compile(r"\.buildkite/pipeline[^/]*\.ya?ml"), "buildkite"),
    (re.compile(r"\.travis\.ya?ml"), "travis"),
    (re.compile(r"bitbucket-pipelines\.ya?ml"), "bitbucket_pipelines"),
    (re.compile(r"\.taskcluster\.ya?ml"), "taskcluster"),
    (re.compile(r"(?:.*/)?azure-pipelines[^/]*\.ya?ml"), "azure_pipelines"),
    (re.compile(r"(?:.*/)?cloudbuild[^/]*\.ya?ml"), "cloud_build"),
    (re.compile(r"(?:.*/)?buildspec[^/]*\.ya?ml"), "codebuild"),
)


def _refused(view: RepoView, index: ConfigIndex) -> list[EvidenceItem]:
    """`ci_invalid`: a CI definition of which nothing parses as YAML, with the parser's words;
    it is not CI (its service refuses it), but silence would leave a team wondering why its CI
    does not count."""
    items = []
    for path, (line, problem) in sorted(index.invalid.items()):
        tool = next((name for place, name in _CI_PLACES if place.fullmatch(path)), None)
        if tool is None:
            continue
        lines = (view.text(path) or "").split("\n")
        excerpt = lines[line - 1].strip() if line and line <= len(lines) else None
        items.append(view.evidence("ci_invalid", path, line, excerpt or None, tool=tool, problem=problem))
    return items


def _taskcluster(path: str, text: str, data: dict[str, Any]) -> CiFile:
    """Taskcluster's in-repo `.taskcluster.yml` (version 1): JSON-e templated tasks whose
    `payload.command` runs; the GitHub events it reacts to are named in `tasks_for` tests."""
    cmds = _commands(data.get("tasks"))
    events = {"github-push": "push", "github-pull-request": "pull_request",
              "github-release": "tag", "cron": "schedule"}
    triggers = [t for ev, t in events.items() if re.search(rf"tasks_for[^\n]*{ev}", text)]
    line, excerpt = cmds.first_line(text) or _trigger_line(text, "tasks")
    return CiFile("taskcluster", path, text, triggers, cmds, [], line, excerpt)


# --- tests run through a task runner: `make test-all`, `just check` --------------------------------

_RUNNER_PREFIX = re.compile(r"^(?:\w+=\S*\s+)*(?:(?:poetry|pipenv|uv|pdm|hatch)\s+run\s+)?")
_MAKE_FILES = ("Makefile", "makefile", "GNUmakefile")
_JUST_FILES = ("justfile", "Justfile", ".justfile")
_MAX_DEPTH = 4


def tests_via_targets(view: RepoView, cmds: Commands, depth: int = 0) -> str | None:
    """`make X` / `just X` steps whose recipe (with its prerequisites and the targets it calls,
    a few levels deep) runs tests, read from the repository's Makefiles and justfiles,
    `bash script.sh` steps whose script runs tests, or steps submitting a job spec of the
    repository (`anyscale jobs submit deploy/job.yaml`, `sky launch task.yaml`) whose entry point
    runs them; the first found, as "make X (path)", "script path" or "job spec path". A target
    no file defines, or a script or spec not in the repository, proves nothing."""
    if depth > _MAX_DEPTH:
        return None
    hooks = _precommit_hooks_run(cmds)
    if hooks is not None:
        found = _precommit_tests(view, *hooks, depth=depth)
        if found is not None:
            return found
    for seg in cmds.segments:
        spec = _job_spec(view, seg)
        if spec is not None:
            path, body = spec
            if body.runs_tests or tests_via_targets(view, body, depth + 1):
                return f"job spec {path}"
        call = _runner_call(seg)
        if call is None:
            continue
        tool, folder, targets = call
        if tool == "sh":
            script = _script_entry(view, targets[0])
            if script is not None:
                body = Commands()
                body.add((view.text(script) or "").splitlines())
                if body.runs_tests:
                    return f"script {script}"
            continue
        names = _MAKE_FILES if tool == "make" else _JUST_FILES
        files = [e.path for e in view.named(*names) if not VENDORED.search(e.path)]
        if folder:  # `make -C dir`: only that folder's file
            files = [f for f in files if f.rsplit("/", 1)[0] == folder.strip("./")]
        files.sort(key=lambda f: (f.count("/"), f))  # the top-level file first
        for path in files:
            rules = (_make_rules if tool == "make" else _just_rules)(view.text(path) or "")
            for target in targets or [next(iter(rules), "")]:
                if target in rules and _recipe_tests(rules, target, tool, set(), 0):
                    return f"{tool} {target} ({path})"
    return None


# --- tests run as pre-commit hooks: `pre-commit run --all-files` with a local `pytest` hook -------
_PRECOMMIT_RUN = re.compile(r"^(?:(?:uvx|pipx\s+run)\s+)?(?:pre-commit|python3?\s+-m\s+pre_commit)\s+run\b(.*)")
_PRECOMMIT_ACTION = re.compile(r"^pre-commit/action@")
_PRECOMMIT_CONFIG = ".pre-commit-config.yaml"
#: the stage names of older pre-commit releases, as they are called now
_STAGE_ALIASES = {"commit": "pre-commit", "push": "pre-push", "merge-commit": "pre-merge-commit"}


def _precommit_hooks_run(cmds: Commands) -> tuple[str, str | None, str] | None:
    """(stage, hook id or None for all, config path) of the pre-commit run a CI job makes:
    `pre-commit run [HOOK] [--all-files] [--hook-stage S] [-c FILE]`, or the `pre-commit/action`
    step (all hooks of the pre-commit stage); None when the job runs none."""
    for seg in cmds.segments:
        m = _PRECOMMIT_RUN.match(_RUNNER_PREFIX.sub("", seg.strip()))
        if not m:
            continue
        options = {"--hook-stage": "pre-commit", "--config": _PRECOMMIT_CONFIG}
        hook, words = None, m.group(1).split()
        while words:
            word = words.pop(0)
            name, eq, value = word.partition("=")
            name = "--config" if name == "-c" else name
            if name in options:
                options[name] = value if eq else (words.pop(0) if words else options[name])
            elif word.startswith(("|", ">", "2>", "&", ";")):
                break
            elif not word.startswith("-") and hook is None:
                hook = word
        stage = options["--hook-stage"]
        return _STAGE_ALIASES.get(stage, stage), hook, options["--config"].removeprefix("./")
    if any(_PRECOMMIT_ACTION.search(u) for u in cmds.uses):
        return "pre-commit", None, _PRECOMMIT_CONFIG
    return None


def _precommit_tests(view: RepoView, stage: str, hook_id: str | None, config: str,
                     depth: int) -> str | None:
    """The first local hook of the pre-commit config that the run includes (its id, when the
    run names one; its stages, or the config's `default_stages`, holding the run's stage) and
    whose entry runs tests (itself, or through a make/just target or script); "pre-commit hook
    ID (path)". A config the repository does not hold proves nothing."""
    data = load_yaml(view.text(config) or "") if config in view.entries else None
    if not isinstance(data, dict) or not isinstance(data.get("repos"), list):
        return None
    default_stages = data.get("default_stages")
    for repo in data["repos"]:
        if not isinstance(repo, dict) or repo.get("repo") != "local" or not isinstance(repo.get("hooks"), list):
            continue
        for hook in repo["hooks"]:
            if not isinstance(hook, dict) or not isinstance(hook.get("entry"), str):
                continue
            if hook_id is not None and hook.get("id") != hook_id:
                continue
            stages = hook.get("stages") or default_stages
            if isinstance(stages, list) and stage not in {_STAGE_ALIASES.get(str(x), str(x)) for x in stages}:
                continue
            args = hook.get("args") if isinstance(hook.get("args"), list) else []
            body = Commands()
            body.add([" ".join([hook["entry"], *map(str, args)])])
            if body.runs_tests or tests_via_targets(view, body, depth + 1):
                return f"pre-commit hook {hook.get('id')} ({config})"
    return None


_SUBMIT = re.compile(r"\b(submit|launch|exec|create|apply)\b")
_SPEC_ARG = re.compile(r"(?:^|[\s=])([\w./-]+\.ya?ml)\b")
_ENTRY_KEYS = ("entrypoint", "run", "command", "commands", "script")


def _job_spec(view: RepoView, seg: str) -> tuple[str, Commands] | None:
    """A step that submits a job described by a YAML file of the repository: the file and the
    commands of its entry point (`entrypoint:` of Anyscale/Ray jobs, `run:` of SkyPilot tasks,
    `command:`)."""
    if not _SUBMIT.search(seg):
        return None
    for arg in _SPEC_ARG.findall(seg):
        path = _script_entry(view, arg)
        data = load_yaml(view.text(path) or "") if path else None
        if not isinstance(data, dict):
            continue
        body = Commands()
        for key in _ENTRY_KEYS:
            value = data.get(key)
            lines = value if isinstance(value, list) else [value] if value is not None else []
            body.add(str(v) for v in lines if isinstance(v, str | int | float))
        if body.segments:
            return path, body
    return None


def _script_entry(view: RepoView, path: str) -> str | None:
    """The repository file a CI step's `bash path.sh` names: from the top, else the one file
    whose path ends so (the step ran in a working directory)."""
    path = path.removeprefix("./")
    if path in view.entries:
        return path
    found = [p for p in view.entries if p.endswith("/" + path)]
    return found[0] if len(found) == 1 else None


def _runner_call(seg: str) -> tuple[str, str | None, list[str]] | None:
    words = _RUNNER_PREFIX.sub("", seg.strip()).split()
    if len(words) >= 2 and words[0] in ("bash", "sh") and words[1].endswith(".sh"):
        return "sh", None, [words[1]]
    if words and words[0].startswith("./") and words[0].endswith(".sh"):
        return "sh", None, [words[0]]
    if not words or words[0] not in ("make", "gmake", "$(MAKE)", "${MAKE}", "just"):
        return None
    tool = "just" if words[0] == "just" else "make"
    folder, targets, skip = None, [], False
    for i, word in enumerate(words[1:], 1):
        if skip:
            skip = False
            continue
        if word in ("-C", "--directory", "-f", "--file", "--justfile", "-d", "--working-directory"):
            skip = True
            if word in ("-C", "--directory") and i + 1 < len(words):
                folder = words[i + 1]
            continue
        if word.startswith("--directory="):
            folder = word.split("=", 1)[1]
        elif not word.startswith("-") and "=" not in word and re.fullmatch(r"[\w./-]+", word):
            targets.append(word)
        elif word.startswith(("|", ">", "2>")):
            break
    return tool, folder, targets


def _recipe_tests(rules: dict[str, tuple[list[str], list[str]]], target: str, tool: str,
                  seen: set[str], depth: int) -> bool:
    if target in seen or depth > _MAX_DEPTH or target not in rules:
        return False
    seen.add(target)
    deps, recipe = rules[target]
    body = Commands()
    body.add(recipe)
    if body.runs_tests:
        return True
    called = [t for seg in body.segments if (c := _runner_call(seg)) and c[0] == tool for t in c[2]]
    return any(_recipe_tests(rules, t, tool, seen, depth + 1) for t in [*deps, *called])


def _make_rules(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """target -> (prerequisites, recipe lines) of a Makefile (comments and `@-+` prefixes gone;
    target-specific variables, pattern and special targets left out)."""
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] = []
    for raw in text.replace("\\\n", " ").splitlines():
        if raw.startswith("\t"):
            line = raw.strip().lstrip("@-+").strip()
            for t in current:
                rules[t][1].append(line)
            continue
        line = raw.split("#", 1)[0].rstrip()
        m = re.match(r"^([\w./-]+(?:[ \t]+[\w./-]+)*)[ \t]*::?(?!=)(.*)$", line)
        if not m or "=" in m.group(2) or m.group(1).startswith("."):
            if line.strip():
                current = []
            continue
        deps, _, inline = m.group(2).partition(";")
        current = m.group(1).split()
        for t in current:
            rules.setdefault(t, ([], []))[0].extend(deps.split())
            if inline.strip():
                rules[t][1].append(inline.strip())
    return rules


def _just_rules(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """recipe -> (dependencies, body lines) of a justfile."""
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current: str | None = None
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and current:
            rules[current][1].append(raw.strip().lstrip("@-").strip())
            continue
        line = raw.split("#", 1)[0].rstrip()
        m = re.match(r"^@?([\w-]+)(?:[ \t]+[^:=]*)?:(?!=)(.*)$", line)
        if not m or line.startswith(("set ", "export ", "alias ", "import ", "mod ")):
            current = None if line.strip() else current
            continue
        current = m.group(1)
        rules[current] = ([d for d in m.group(2).split() if re.fullmatch(r"[\w-]+", d)], [])
    return rules


def _trigger_line(text: str, *keys: str) -> tuple[int, str]:
    for key in keys:
        found = key_line(text, key)
        if found:
            return found
    return 1, text.lstrip().splitlines()[0].strip() if text.strip() else ""


def _github(path: str, text: str, data: dict[str, Any]) -> CiFile:
    on = data.get("on", data.get(True))
    triggers: list[str] = []
    names: list[str] = []
    if isinstance(on, str):
        names = [on]
    elif isinstance(on, list):
        names = [str(x) for x in on]
    elif isinstance(on, dict):
        names = [str(k) for k in on]
        push = on.get("push")
        if isinstance(push, dict) and push.get("tags"):
            triggers.append("tag")
    triggers += [_GH_TRIGGERS.get(n, n) for n in names]
    cmds = _commands(data.get("jobs") or {})
    line, excerpt = _trigger_line(text, "on", "true")
    return CiFile(
        "github_actions",
        path,
        text,
        triggers,
        cmds,
        _cron_strings(on) if isinstance(on, dict) else [],
        line,
        excerpt,
    )


def _gitlab_paths(index: ConfigIndex, by_path: dict[str, list[ConfigDoc]]) -> set[str]:
    """.gitlab-ci.yml and the local files it includes (parsed on demand, added to by_path)."""
    paths = {".gitlab-ci.yml"} if ".gitlab-ci.yml" in by_path else set()
    todo = list(paths)
    while todo:
        docs = by_path.get(todo.pop()) or []
        data = docs[0].data if docs else None
        inc = data.get("include") if isinstance(data, dict) else None
        for item in inc if isinstance(inc, list) else [inc]:
            local = item.get("local") if isinstance(item, dict) else item
            if isinstance(local, str) and "://" not in local and "*" not in local:
                candidate = local.lstrip("/")
                if candidate not in paths and (candidate in by_path or index.load(candidate)):
                    by_path.setdefault(candidate, index.load(candidate))
                    paths.add(candidate)
                    todo.append(candidate)
    return paths


def _gitlab(path: str, text: str, data: dict[str, Any]) -> CiFile:
    cmds = Commands()
    triggers = {"push"}
    scheduled_training = False
    for key, job in data.items():
        if not isinstance(job, dict) or str(key) in _GITLAB_RESERVED:
            continue
        job_cmds = _commands({k: v for k, v in job.items() if k in COMMAND_KEYS or k in _MAY_FAIL_KEYS})
        cmds.segments += job_cmds.segments
        cmds.ignored += job_cmds.ignored
        cmds.uses += job_cmds.uses
        conditions = " ".join(strings({k: job.get(k) for k in ("rules", "only", "except")}))
        if re.search(r"merge_request", conditions):
            triggers.add("pull_request")
        if re.search(r"CI_COMMIT_TAG|\btags\b", conditions):
            triggers.add("tag")
        if job.get("when") == "manual":
            triggers.add("manual")
        if re.search(r"\bschedules?\b", conditions):
            triggers.add("schedule")
            if job_cmds.trains:
                scheduled_training = True
    wf = " ".join(strings(data.get("workflow"))) if isinstance(data.get("workflow"), dict) else ""
    if "merge_request" in wf:
        triggers.add("pull_request")
    line, excerpt = cmds.first_line(text) or _trigger_line(text, "workflow", "stages")
    return CiFile(
        "gitlab_ci", path, text, sorted(triggers), cmds, [], line, excerpt, scheduled_training
    )


def _circleci(path: str, text: str, data: dict[str, Any]) -> CiFile:
    cmds = _commands({"jobs": data.get("jobs"), "commands": data.get("commands")})
    cmds.uses = (
        [str(v) for v in (data.get("orbs") or {}).values()]
        if isinstance(data.get("orbs"), dict)
        else []
    )
    triggers = ["push"]
    workflows = data.get("workflows")
    crons = _cron_strings(workflows)
    if crons:
        triggers.append("schedule")
    if "tags" in "\n".join(strings(workflows, {"filters"})) or re.search(r"^\s+tags:", text, re.M):
        triggers.append("tag")
    line, excerpt = _trigger_line(text, "workflows", "jobs")
    return CiFile("circleci", path, text, triggers, cmds, crons, line, excerpt)


def _simple(tool: str, path: str, text: str, data: dict[str, Any], triggers: list[str]) -> CiFile:
    cmds = _commands(data)
    line, excerpt = cmds.first_line(text) or _trigger_line(text, "steps", "phases", "script")
    return CiFile(tool, path, text, triggers, cmds, [], line, excerpt)


_NOT_CLOUD_BUILD_STEP = {"run", "uses", "task", "script", "bash", "image", "commands", "template"}


def _cloud_build_shape(data: dict[str, Any]) -> bool:
    """A Cloud Build config under any name: top-level steps that name a builder image and
    pass it args or an entrypoint (Drone/Azure/GitHub steps look different)."""
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(st, dict) for st in steps):
        return False
    if any(_NOT_CLOUD_BUILD_STEP & set(map(str, st)) for st in steps):
        return False
    return all("name" in st for st in steps) and any(
        ("args" in st or "entrypoint" in st)
        and re.search(r"/|^\$|^[\w.-]+:[\w.-]+$", str(st.get("name", "")))
        for st in steps
    )


def _cloud_build(path: str, text: str, data: dict[str, Any]) -> CiFile:
    """Cloud Build: each step's entrypoint and args are one command line."""
    cmds = Commands()
    for st in data.get("steps") or []:
        if not isinstance(st, dict):
            continue
        args = st.get("args")
        args = [str(a) for a in args] if isinstance(args, list) else ([str(args)] if args else [])
        entry = str(st.get("entrypoint") or "")
        if entry in ("bash", "sh", "/bin/bash", "/bin/sh") and len(args) >= 2 and args[0] == "-c":
            cmds.add(args[1:])
        else:
            image = str(st.get("name", "")).rsplit("/", 1)[-1].split(":", 1)[0]
            head = entry or (image if image not in ("", "git") else "")
            cmds.add([" ".join([head, *args]).strip()])
        if st.get("script"):
            cmds.add([str(st["script"])])
    line, excerpt = cmds.first_line(text) or _trigger_line(text, "steps")
    return CiFile("cloud_build", path, text, [], cmds, [], line, excerpt)


_AZURE_STEP_KEYS = {"task", "script", "bash", "pwsh", "powershell", "checkout", "template"}


def _azure_candidate(path: str, name: str, data: dict[str, Any]) -> bool:
    if re.match(r"azure-pipelines?[^/]*\.ya?ml$", name):
        return True
    if path.startswith(".github/") or name in ("docker-compose.yml", "docker-compose.yaml"):
        return False
    shape = {"trigger", "pr", "stages", "jobs", "steps", "schedules"} & set(map(str, data))
    if not shape:
        return False
    if re.match(r"(.*/)?\.(azure-)?pipelines/", path) or path.startswith(".azuredevops/"):
        return True
    # elsewhere: an Azure pipeline's shape — trigger/stages/jobs with Azure-style steps
    if not ({"trigger", "pr", "stages", "jobs"} & shape):
        return False
    return _has_azure_steps(data)


def _has_azure_steps(node: Any) -> bool:
    if isinstance(node, dict):
        steps = node.get("steps")
        if isinstance(steps, list) and any(
            isinstance(s, dict) and _AZURE_STEP_KEYS & set(map(str, s)) for s in steps
        ):
            return True
        return any(_has_azure_steps(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_azure_steps(v) for v in node)
    return False


def _azure(path: str, text: str, data: dict[str, Any]) -> CiFile:
    triggers = []
    trig = data.get("trigger", "default")
    if isinstance(trig, list) and [str(t).lower() for t in trig] == ["none"]:
        trig = "none"  # `trigger: [none]` / `- none` switches CI triggering off too
    if trig != "none" and trig is not None:
        triggers.append("push")
        if isinstance(trig, dict) and trig.get("tags"):
            triggers.append("tag")
    pr = data.get("pr", "default")
    if pr not in ("none", None) and not (isinstance(pr, list) and [str(p).lower() for p in pr] == ["none"]):
        triggers.append("pull_request")
    crons = _cron_strings(data.get("schedules"))
    if crons:
        triggers.append("schedule")
    cmds = _commands({k: v for k, v in data.items() if k in ("stages", "jobs", "steps")})
    line, excerpt = _trigger_line(text, "trigger", "schedules", "pr", "stages", "jobs")
    return CiFile("azure_pipelines", path, text, triggers, cmds, crons, line, excerpt)


#: a Groovy string (kept: `'dist/*.zip'` and `"http://..."` open no comment) or a comment (blanked);
#: a line comment ends at its line
_JENKINS_TOKEN = re.compile(
    r"'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\""
    r"|(?P<comment>/\*.*?\*/|//[^\n]*)",
    re.S,
)


def _jenkins(path: str, text: str) -> CiFile:
    clean = _JENKINS_TOKEN.sub(
        lambda m: re.sub(r"[^\n]", " ", m.group(0)) if m.group("comment") else m.group(0), text)
    cmds = Commands()
    # the closing quote is the opening one: `sh '''cmd --flag "$X"'''` holds other quotes;
    # backslash continuations make one command
    cmds.add(
        m.group(2).replace("\\\n", " ")
        for m in re.finditer(
            r"\b(?:sh|bat|pwsh|powershell)\s*\(?\s*(?:script\s*:\s*)?('''|\"\"\"|'|\")(.*?)\1",
            clean,
            re.S,
        )
    )
    # pipeline-aws steps (`cfnUpdate(stack: ...)`) deploy without a shell
    cmds.add([m.group(0) for m in re.finditer(r"\bcfn(Update|Create|Deploy)\s*\(", clean)])
    triggers = ["push"]
    crons = re.findall(r"\bcron\s*\(\s*['\"]([^'\"]+)", clean)
    if crons:
        triggers.append("schedule")
    if "changeRequest" in clean:
        triggers.append("pull_request")
    if re.search(r"\bbuildingTag\b|\btag\s+['\"]", clean):
        triggers.append("tag")
    found = (
        find_line(clean, r"\btriggers\s*\{") or cmds.first_line(clean) or find_line(clean, r"\S")
    )
    line, _ = found or (1, "")
    return CiFile(
        "jenkins",
        path,
        text,
        triggers,
        cmds,
        crons,
        line,
        text.splitlines()[line - 1].strip() if text.splitlines() else "",
    )
