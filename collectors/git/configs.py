"""Parsed configuration of one repository, read once and shared by the file detectors.

Only candidate paths chosen by name or suffix are read: YAML, a few JSON names, Terraform, and
the handful of well-known config files. YAML is parsed as YAML 1.2-ish (GitHub's `on:` stays a
string key) with unknown tags (`!Ref`, `!reference`) kept as plain values; a file that does not
parse contributes nothing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlaudit import safe_yaml
from mlaudit.collectors.git.blobs import REFUSED_YAML  # why a YAML file is skipped (coverage)
from mlaudit.collectors.git.pathrules import PathRule
from mlaudit.collectors.git.view import RepoView, TreeEntry
from mlaudit.evidence import EvidenceItem

MAX_CONFIG_BYTES = 512 * 1024

# Paths whose files are somebody else's code or generated environments.
VENDORED = PathRule(
    r"(^|/)(node_modules|site-packages|\.venv|venv|\.tox|\.nox|__pycache__|\.git|bower_components)/"
)
DEVCONTAINER = re.compile(r"(^|/)\.devcontainer/")
_YAML_SKIP_NAMES = {"pnpm-lock.yaml", "conda-lock.yml", "conda-lock.yaml", "pubspec.lock"}
_JSON_HINT = re.compile(
    r"(?i)(template|cfn|cloudformation|stack|\.asl\.|state.?machine|sfn|step.?function|workflow|"
    r"azuredeploy|maintemplate|pipeline|dashboard|grafana|pachyderm|event|rule|sam|infra|deploy|"
    r"taskcluster)"
)
_JSON_DIR_HINT = re.compile(
    r"(?i)(^|/)(infra|infrastructure|iac|cloudformation|cfn|templates?|deploy(ment)?s?|"
    r"statemachines?|state_machines?|step_?functions|dashboards?|grafana|pipelines?|arm)/"
)
_JSON_SKIP_NAMES = {
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "composer.json",
    "manifest.json",
    "launch.json",
    "settings.json",
    "extensions.json",
    "devcontainer.json",
    "cdk.json",
    "cdk.context.json",
    "angular.json",
}
_DATA_DIR = re.compile(r"(?i)(^|/)(data|datasets?|fixtures|samples?|raw|processed)/")


# --- YAML ------------------------------------------------------------------------------------

# alias bombs and self-containing documents are refused (auditor.safe_yaml)
_BaseLoader: Any = safe_yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader with YAML 1.2 booleans (so `on:`/`yes:` stay strings) and any `!tag` allowed."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _any_tag(loader: Any, _suffix: str, node: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_multi_constructor("!", _any_tag)

_DOC_SPLIT = re.compile(r"^---[ \t]*(?:#.*)?$", re.M)


#: (line of the whole file or None, the parser's words: "line 4, column 1: found character that
#: cannot start any token (a tab: YAML indents with spaces)")
YamlProblem = tuple[int | None, str]


def load_yaml_docs(text: str) -> list[tuple[int, Any]]:
    """(start line, data) for every document that parses; broken documents are dropped."""
    return _load_docs(text)[0]


def _load_docs(text: str) -> tuple[list[tuple[int, Any]], bool, YamlProblem | None]:
    """The documents that parse, whether one was refused for its alias expansion, and where and
    why the first broken document does not parse."""
    out: list[tuple[int, Any]] = []
    refused = False
    problem: YamlProblem | None = None
    starts = [0] + [m.end() for m in _DOC_SPLIT.finditer(text)]
    ends = [m.start() for m in _DOC_SPLIT.finditer(text)] + [len(text)]
    for start, end in zip(starts, ends, strict=True):
        chunk = text[start:end]
        if not chunk.strip():
            continue
        try:
            data = yaml.load(chunk, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except safe_yaml.ExpansionError:
            refused = True
            continue
        except Exception as exc:  # noqa: BLE001 - corrupt YAML is not evidence, never a crash
            problem = problem or _yaml_problem(exc, chunk, text.count("\n", 0, start))
            continue
        if data is not None:
            out.append((text.count("\n", 0, start) + 1, data))
    return out, refused, problem


def _yaml_problem(exc: Exception, chunk: str, lines_before: int) -> YamlProblem:
    """The parser's own words, at the line and column of the whole file (naming a tab, which
    libyaml only calls "a character that cannot start any token")."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = str(getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__)
    if mark is None:
        return None, what
    lines = chunk.split("\n")
    if mark.line < len(lines) and lines[mark.line][mark.column:mark.column + 1] == "\t":
        what += " (a tab: YAML indents with spaces)"
    line = mark.line + 1 + lines_before
    return line, f"line {line}, column {mark.column + 1}: {what}"


def load_yaml(text: str) -> Any:
    docs = load_yaml_docs(text)
    return docs[0][1] if docs else None


_HELM_DIRECTIVE = re.compile(r"^\s*\{\{-?.*?-?\}\}\s*$", re.M)
_HELM_INLINE = re.compile(r"\{\{-?.*?-?\}\}")


def untemplate(text: str) -> str:
    """Helm/Jinja templates made parseable: directive-only lines dropped, inline ones replaced."""
    text = _HELM_DIRECTIVE.sub("", text)
    return _HELM_INLINE.sub("TEMPLATED", text)


# --- text helpers -----------------------------------------------------------------------------


def find_line(
    text: str, pattern: str | re.Pattern[str], start_line: int = 1
) -> tuple[int, str] | None:
    """(line number, line text) of the first match at or after `start_line`."""
    rx = re.compile(pattern, re.M) if isinstance(pattern, str) else pattern
    offset = 0
    if start_line > 1:
        for _ in range(start_line - 1):
            nxt = text.find("\n", offset)
            if nxt < 0:
                return None
            offset = nxt + 1
    m = rx.search(text, offset)
    if not m:
        return None
    line = text.count("\n", 0, m.start()) + 1
    begin = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.start())
    return line, text[begin : end if end >= 0 else len(text)].strip()


def key_line(text: str, key: str, start_line: int = 1) -> tuple[int, str] | None:
    """The line declaring a YAML/JSON key."""
    k = re.escape(key)
    return find_line(text, rf"^\s*(?:-\s+)?(?:{k}|['\"]{k}['\"])\s*:", start_line)


def line_text(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def strings(node: Any, keys: set[str] | None = None, _take: bool = False) -> Iterator[str]:
    """String leaves of parsed config; with `keys`, only those under one of those keys."""
    take = _take or keys is None
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, keys, take or (keys is not None and str(k) in keys))
    elif isinstance(node, list):
        for v in node:
            yield from strings(v, keys, take)
    elif isinstance(node, str) and take:
        yield node


def flat_text(node: Any) -> str:
    """Keys and string values of a parsed config, one per line (for keyword tests)."""
    out: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            for k, v in n.items():
                out.append(str(k))
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)
        elif n is not None:
            out.append(str(n))

    walk(node)
    return "\n".join(out)


def dir_of(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def under(path: str, folder: str) -> bool:
    return folder == "" or path.startswith(folder + "/")


TRAIN_WORD = re.compile(r"(?i)(?<![a-z])(?:re)?train(?:ing|er|s)?(?![a-z])|(?<=[a-z])(?:Re)?Train")


def mentions_training(text: str) -> bool:
    return bool(TRAIN_WORD.search(text))


# --- Terraform -------------------------------------------------------------------------------

_TF_BLOCK = re.compile(
    r'^[ \t]*(resource|data|module|variable)\s+"([^"]+)"(?:\s+"([^"]+)")?\s*\{', re.M
)
_HCL_COMMENT = re.compile(r'/\*.*?\*/|(?:#|//)[^\n]*|"(?:\\.|[^"\\\n])*"', re.S)


def strip_hcl_comments(text: str) -> str:
    """Comments blanked (newlines kept, so line numbers hold); strings left alone."""

    def repl(m: re.Match[str]) -> str:
        s = m.group(0)
        return s if s.startswith('"') else re.sub(r"[^\n]", " ", s)

    return _HCL_COMMENT.sub(repl, text)


@dataclass
class TfBlock:
    path: str
    line: int
    kind: str  # resource | data | module
    type: str
    name: str
    body: str


def terraform_blocks(path: str, text: str) -> list[TfBlock]:
    clean = strip_hcl_comments(text)
    blocks = []
    for m in _TF_BLOCK.finditer(clean):
        depth, i = 0, m.end() - 1
        in_str = False
        while i < len(clean):
            c = clean[i]
            if in_str:
                if c == "\\":
                    i += 1
                elif c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        kind, typ, name = m.group(1), m.group(2), m.group(3) or ""
        if kind in ("module", "variable"):
            typ, name = kind, m.group(2)
        blocks.append(
            TfBlock(path, clean.count("\n", 0, m.start()) + 1, kind, typ, name, clean[m.end() : i])
        )
    return blocks


# --- CloudFormation ----------------------------------------------------------------------------


@dataclass
class CfnResource:
    path: str
    line: int
    logical_id: str
    type: str
    props: dict[str, Any]
    template: dict[str, Any]


def cfn_resources(path: str, text: str, data: Any) -> list[CfnResource]:
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        return []
    resources = data["Resources"]
    typed = {
        k: v
        for k, v in resources.items()
        if isinstance(v, dict)
        and isinstance(v.get("Type"), str)
        and re.match(r"^(AWS|Custom|Alexa)::", v["Type"])
    }
    if not typed or not (
        "AWSTemplateFormatVersion" in data
        or "Transform" in data
        or any(v["Type"].startswith("AWS::") for v in typed.values())
    ):
        return []
    out = []
    res_line = (key_line(text, "Resources") or (1, ""))[0]
    for lid, res in typed.items():
        found = key_line(text, str(lid), res_line)
        props = res.get("Properties") if isinstance(res.get("Properties"), dict) else {}
        out.append(
            CfnResource(path, found[0] if found else res_line, str(lid), res["Type"], props, data)
        )
    return out


def cfn_refs(node: Any) -> set[str]:
    """Logical ids a property refers to (Ref, Fn::GetAtt, Fn::Sub ${X})."""
    refs: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            for k, v in n.items():
                if k in ("Ref", "!Ref") and isinstance(v, str):
                    refs.add(v.split(".")[0])
                elif k in ("Fn::GetAtt", "!GetAtt"):
                    first = v[0] if isinstance(v, list) and v else v
                    if isinstance(first, str):
                        refs.add(first.split(".")[0])
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)
        elif isinstance(n, str):
            refs.update(re.findall(r"\$\{([A-Za-z0-9]+)", n))
            refs.add(n.split(".")[0])  # `!Ref X` / `!GetAtt X.Arn` load as plain strings

    walk(node)
    return refs


_YAML_NAMES = re.compile(
    r"(^|/)(\.github/workflows|\.circleci|\.buildkite|\.pipelines|\.azure-pipelines|\.azuredevops)/"
    r"|(^|/)(feature_store|bentofile|dagster|workspace|prefect|profiles|openlineage|\.?lakectl|"
    r"\.gitlab-ci|\.travis|bitbucket-pipelines|\.taskcluster)\.ya?ml$"
    r"|(azure-pipelines|buildspec|cloudbuild|compose|lakefs)[^/]*\.ya?ml$|-deployment\.ya?ml$"
    r"|(^|/)serverless([.-][\w-]+)?\.ya?ml$|(^|[/.])dstack\.ya?ml$"
)
_YAML_KEYS = re.compile(
    r"^[\"']?(apiVersion|kind|Resources|AWSTemplateFormatVersion|StartAt|pipelineInfo|pipelineSpec|"
    r"\$schema|services|groups|panels|dashboard|checks for [^:\n]+|source|workflowConfig|models|"
    r"sources|seeds|snapshots|transport|pipeline|applications|trigger|pr|stages|jobs|steps|"
    r"schedules|deployments|load_from|phases|on|workflows|include|resources|tasks)[\"']?\s*:"
    r"|evidently\.|OPENLINEAGE|default_args",
    re.M,
)


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> tuple[list[tuple[int, Any]], bool, YamlProblem | None]:
    # cached by content: estates repeat config files verbatim (shared CI templates, copied
    # manifests); callers only read the parsed data
    docs, refused, problem = _load_docs(text)
    if not docs and not refused and "{{" in text:
        docs, refused, _ = _load_docs(untemplate(text))
    return docs, refused, (problem if not docs and not refused else None)


# --- the index ---------------------------------------------------------------------------------


@dataclass
class ConfigDoc:
    path: str
    line: int  # first line of the document within the file
    data: Any
    text: str  # the whole file


@dataclass
class ConfigIndex:
    view: RepoView
    docs: list[ConfigDoc] = field(default_factory=list)
    tf: list[TfBlock] = field(default_factory=list)
    tf_paths: list[str] = field(default_factory=list)
    cfn: list[CfnResource] = field(default_factory=list)
    _loaded: set[str] = field(default_factory=set)
    _switched_off: set[Any] | None = None
    #: YAML files of which no document parses: path -> (line, the parser's words)
    invalid: dict[str, YamlProblem] = field(default_factory=dict)

    @classmethod
    def build(cls, view: RepoView) -> ConfigIndex:
        index = cls(view)
        yaml_files = [e for e in candidates(view, ".yml", ".yaml")
                      if e.name not in _YAML_SKIP_NAMES and not e.name.endswith(".lock.yml")]
        json_files = [e for e in candidates(view, ".json") if _json_candidate(e)]
        tf_files = list(candidates(view, ".tf"))
        view.prefetch(e.path for e in (*yaml_files, *json_files, *tf_files))
        for entry in yaml_files:
            text = view.text(entry.path)
            # parsing is the expensive part: only files a detector could use are parsed
            if text and (_YAML_NAMES.search(entry.path) or _YAML_KEYS.search(text)):
                index._add_yaml(entry.path, text)
        for entry in json_files:
            text = view.text(entry.path)
            if not text or not text.lstrip().startswith("{"):
                continue
            try:
                data = json.loads(text)
            except ValueError:
                continue
            index._add(entry.path, text, [(1, data)])
        for entry in tf_files:
            text = view.text(entry.path)
            if text:
                blocks = terraform_blocks(entry.path, text)
                index.tf.extend(blocks)
                if any(b.kind in ("resource", "module") for b in blocks):
                    index.tf_paths.append(entry.path)
        return index

    def opt_in(self, path: str, line: int | None) -> bool:
        """True when the thing at path:line exists only if a switch that defaults to off is on."""
        if self._switched_off is None:
            self._switched_off = _switched_off(self)
        return path in self._switched_off or (path, line) in self._switched_off

    def load(self, path: str) -> list[ConfigDoc]:
        """The documents of one YAML file, parsed on demand (e.g. a CI include)."""
        docs = [d for d in self.docs if d.path == path]
        if docs or path in self._loaded:
            return docs
        self._loaded.add(path)
        text = self.view.text(path) if self.view.exists(path) else None
        if text:
            self._add_yaml(path, text)
        return [d for d in self.docs if d.path == path]

    def _add_yaml(self, path: str, text: str) -> None:
        docs, refused, problem = _parse(text)
        if refused:  # an alias bomb: the file is skipped and counted, the repository goes on
            self.view.skip(path, REFUSED_YAML)
        elif problem is not None:
            self.invalid[path] = problem
        self._add(path, text, docs)

    def _add(self, path: str, text: str, docs: list[tuple[int, Any]]) -> None:
        for line, data in docs:
            self.docs.append(ConfigDoc(path, line, data, text))
            self.cfn.extend(cfn_resources(path, text, data))

    def dicts(self) -> Iterator[ConfigDoc]:
        return (d for d in self.docs if isinstance(d.data, dict))

    def resources(self, kind: str = "resource") -> Iterator[TfBlock]:
        return (b for b in self.tf if b.kind == kind)


def candidates(view: RepoView, *suffixes: str) -> Iterator[TreeEntry]:
    entries = [e for e in view.with_suffix(*suffixes) if not VENDORED.search(e.path)]
    view.prefetch_sizes(entries)
    chosen = [e for e in entries if e.size <= MAX_CONFIG_BYTES and e.mode != "120000"]
    return iter(chosen)


def _json_candidate(entry: TreeEntry) -> bool:
    if entry.name in _JSON_SKIP_NAMES or entry.name.startswith("."):
        return False
    path = entry.path
    if _DATA_DIR.search(path) and not _JSON_HINT.search(entry.name):
        return False
    return bool(_JSON_HINT.search(path) or _JSON_DIR_HINT.search(path))


# --- opt-in wiring -----------------------------------------------------------------------------

_FALSY = {"false", "no", "0", "", "none", "off", "disabled"}
_HELM_GATE = re.compile(r"^\s*\{\{-?\s*if\s+\.Values\.([\w.]+)\s*-?\}\}")


def _switched_off(index: ConfigIndex) -> set[Any]:
    """Paths and (path, line) pairs whose resources are gated by a switch that defaults to off."""
    off: set[Any] = set()
    defaults = {}
    for b in index.tf:
        if b.kind == "variable":
            m = re.search(r"\bdefault\s*=\s*(\w+|\"[^\"]*\")", b.body)
            if m:
                defaults[b.name] = m.group(1).strip('"').lower()
    for b in index.tf:
        gate = re.search(r"\b(count|for_each)\s*=\s*(?:local\.|var\.)(\w+)\s*(\?|$)", b.body, re.M)
        if b.kind == "resource" and gate and defaults.get(gate.group(2)) in _FALSY:
            off.add((b.path, b.line))
    for r in index.cfn:
        conditions = r.template.get("Conditions")
        name = str(r.template["Resources"][r.logical_id].get("Condition", ""))
        cond = conditions.get(name) if isinstance(conditions, dict) and name else None
        args = cond.get("Fn::Equals") if isinstance(cond, dict) else cond
        if isinstance(args, list) and len(args) == 2:
            ref = args[0].get("Ref") if isinstance(args[0], dict) else args[0]
            params = (
                r.template.get("Parameters")
                if isinstance(r.template.get("Parameters"), dict)
                else {}
            )
            param = params.get(ref) if isinstance(ref, str) else None
            if (
                isinstance(param, dict)
                and "Default" in param
                and str(param["Default"]).lower() != str(args[1]).lower()
            ):
                off.add((r.path, r.line))
    for doc in index.docs:
        if "/templates/" not in "/" + doc.path:
            continue
        gate = _HELM_GATE.search(doc.text)
        if not gate or doc.text[: gate.start()].strip():
            continue
        chart_root = doc.path.rsplit("/templates/", 1)[0] if "/templates/" in doc.path else ""
        values_path = f"{chart_root}/values.yaml" if chart_root else "values.yaml"
        value: Any = (
            load_yaml(index.view.text(values_path) or "")
            if index.view.exists(values_path)
            else None
        )
        for part in gate.group(1).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and str(value).lower() in _FALSY:
            off.add(doc.path)
    return off


NOT_TRAINING = re.compile(
    r"(?i)ingest|monitor|scor(e|ing)|batch[_-]?(inference|predict|transform)|"
    r"predict|inference|backup|cleanup|report"
)


def only_not_training(text: str) -> bool:
    """True when training words appear only inside names that are about something else."""
    cleaned = NOT_TRAINING.sub("", text)
    return not mentions_training(cleaned)


MODEL_METRIC = re.compile(
    r"(?i)model|predict|drift|inference|skew|accuracy|auc|f1|precision|recall|"
    r"\bmse\b|\bmae\b|rmse"
)


# PromQL's `predict_linear` (disk-fill alerts) is forecasting of infrastructure, not a model
_NOT_MODEL_METRIC = re.compile(r"\bpredict_linear\b")


def mentions_model_metrics(text: str) -> bool:
    return bool(MODEL_METRIC.search(_NOT_MODEL_METRIC.sub("", text)))


class Emit:
    """Collects evidence items for one repository, marking wiring that is off by default."""

    def __init__(self, view: RepoView, index: ConfigIndex | None = None) -> None:
        self.view = view
        self.index = index
        self.items: list[EvidenceItem] = []

    def __call__(
        self,
        signal: str,
        path: str | None,
        line: int | None = None,
        excerpt: str | None = None,
        **attrs: Any,
    ) -> None:
        if path is not None and excerpt is None and line:
            excerpt = line_text(self.view.text(path) or "", line)
        if path is not None and "{{" in path:
            attrs.setdefault("template", True)  # inside a project template, not this project
        # a template is IaC even when some of its resources are switched off
        if (
            path is not None
            and self.index is not None
            and signal != "infrastructure_as_code"
            and self.index.opt_in(path, line)
        ):
            attrs["opt_in"] = True
        self.items.append(self.view.evidence(signal, path, line, excerpt, **attrs))


def run_detectors(view: RepoView, index: ConfigIndex, detectors: Iterable[Any]) -> list[Any]:
    """Run each `detector(view, index, emit)` over one repository; the items they emitted."""
    emit = Emit(view, index)
    for detector in detectors:
        detector(view, index, emit)
    return emit.items
