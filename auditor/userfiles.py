"""Files a user names (a config, a survey answers file): read with one clear error, parsed as
safe YAML with line numbers for error messages. Core: imports nothing above it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from mlaudit.errors import ConfigError


def read_user_file(path: str | os.PathLike[str], what: str) -> str:
    """The text of a file the user named (a config, an answers file), or a ConfigError naming it."""
    label = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=label) from None
    except IsADirectoryError:
        raise ConfigError(f"is a folder, not a {what}", file=label) from None
    except (PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what}: {exc}", file=label) from None


def load_yaml(text: str, label: str) -> tuple[yaml.Node | None, Any]:
    """The composed node tree (for line numbers) and the data of a YAML file, or a ConfigError
    naming the file and line — also for date-like values that are no date (`2027-13-01`)."""
    from mlaudit import safe_yaml

    node = None
    try:
        node = safe_yaml.compose(text)  # alias bombs and self-containing values are refused
        data = safe_yaml.construct(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", file=label, line=mark.line + 1 if mark else None) from None
    except ValueError as exc:  # PyYAML's timestamp constructor rejects impossible dates
        line, key = _bad_timestamp(node)
        raise ConfigError(f"not a calendar date: {exc}", file=label, line=line, key=key) from None
    return node, data


def _bad_timestamp(node: yaml.Node | None, path: str = "") -> tuple[int | None, str | None]:
    """Where the first timestamp-tagged scalar that is not a valid date is."""
    import datetime as _dt

    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":timestamp"):
        try:
            _dt.date.fromisoformat(node.value[:10])
        except ValueError:
            return node.start_mark.line + 1, path or None
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found = _bad_timestamp(value, f"{path}.{key.value}" if path else str(key.value))
            if found[0]:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            found = _bad_timestamp(value, f"{path}.{i}" if path else str(i))
            if found[0]:
                return found
    return None, None


def dates_to_text(value: Any) -> Any:
    """YAML reads `2027-01-31` as a date; the schema (and the report) want the ISO text."""
    import datetime as _dt

    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dates_to_text(v) for v in value]
    return value


def line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the value (or key) at `path` in the composed YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    line = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def schema_error(schema: dict[str, Any], data: Any) -> tuple[Any, list[Any], str] | None:
    """The most telling JSON Schema error of `data` as (error, path, message), None when valid.
    An unknown key is named: the path ends at it and the message lists the keys allowed there."""
    import jsonschema  # only needed when a user file is read

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    err = jsonschema.exceptions.best_match(errors)
    path, message = list(err.absolute_path), err.message
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        if extra:
            path = [*path, extra[0]]
            message = f"unknown key (allowed here: {', '.join(sorted(err.schema.get('properties', {})))})"
    return err, path, message


def resolve_path(base_dir: Path, value: str) -> Path:
    """A path from a user's file: `~` and `$VARS` expanded, relative to the file's folder."""
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    return p if p.is_absolute() else (base_dir / p)
