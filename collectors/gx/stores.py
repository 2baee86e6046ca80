"""Read-only access to a GX project's stores: key listing and raw reads, nothing else.

Every store is seen as a `TupleStore`: `keys()` lists the store's keys (tuples, as GX's tuple
store backends name them) and `read(key)` returns the stored text. Two implementations:

- `GxBackendStore` wraps the store backend GX itself builds from a GX 1.x project's config
  (filesystem, S3, GCS, Azure), after `${VAR}` substitution from the project's own config
  variables file (never from the auditor's environment, never from a secret store). No data context is
  created: `get_context` scaffolds folders and store-id files. Store backends are built with
  `suppress_store_backend_id` (otherwise GX writes `.ge_store_backend_id` into a store that lacks
  one) and only over folders that exist (GX creates the parent of a missing base directory).
- `FileTupleStore` reads a filesystem tuple store directly; it is how legacy 0.x projects,
  which GX 1.x cannot open, are read.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Protocol

import yaml

from mlaudit import safe_yaml

GX_STORE_MODULE = "great_expectations.data_context.store"
STORE_ID_KEY = (".ge_store_backend_id",)
#: store backends that can be listed and read without writing anything
READABLE_BACKENDS = {
    "TupleFilesystemStoreBackend",
    "TupleS3StoreBackend",
    "TupleGCSStoreBackend",
    "TupleAzureBlobStoreBackend",
    "InMemoryStoreBackend",
}
STORE_CLASSES = {
    "ExpectationsStore",
    "ValidationResultsStore",
    "CheckpointStore",
    "ValidationDefinitionStore",
    "ValidationsStore",
}


class StoreUnavailable(Exception):
    """A store that cannot be read; the message says why, for the report."""


class TupleStore(Protocol):
    label: str

    def keys(self) -> list[tuple[str, ...]]: ...

    def read(self, key: tuple[str, ...]) -> str: ...


class EmptyStore:
    """A store that keeps nothing between runs (in-memory), or whose folder does not exist."""

    def __init__(self, label: str) -> None:
        self.label = label

    def keys(self) -> list[tuple[str, ...]]:
        return []

    def read(self, key: tuple[str, ...]) -> str:
        raise KeyError(key)


class FileTupleStore:
    """A filesystem tuple store: `base/part/part/last<suffix>` is the key (part, part, last)."""

    def __init__(self, base: Path, suffix: str | tuple[str, ...], label: str) -> None:
        self.base = base
        self.suffixes = (suffix,) if isinstance(suffix, str) else suffix
        self.label = label
        self.unreadable: list[str] = []  # folders that could not be listed

    def keys(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        base = str(self.base)
        for folder, dirs, files in os.walk(base, onerror=self._note):
            dirs.sort()
            rel = os.path.relpath(folder, base)
            parts = () if rel == "." else tuple(rel.split(os.sep))
            for name in sorted(files):
                for suffix in self.suffixes:
                    if name.endswith(suffix) and len(name) > len(suffix):
                        out.append((*parts, name[: -len(suffix)]))
                        break
        return out

    def _note(self, exc: OSError) -> None:
        self.unreadable.append(f"{exc.filename}: {exc.strerror or exc}")

    def path_of(self, key: tuple[str, ...]) -> Path:
        for suffix in self.suffixes:
            path = self.base.joinpath(*key[:-1], key[-1] + suffix)
            if path.exists():
                return path
        return self.base.joinpath(*key[:-1], key[-1] + self.suffixes[0])

    def read(self, key: tuple[str, ...]) -> str:
        with open(self.path_of(key), encoding="utf-8") as fh:
            return fh.read()


#: filesystem backend options whose layout `NativeFilesystemStore` reads exactly as GX does
_NATIVE_OPTIONS = {"class_name", "module_name", "base_directory", "root_directory", "filepath_suffix",
                   "suppress_store_backend_id", "manually_initialize_store_backend_id"}


def native_filesystem(backend: dict[str, Any], module: str = GX_STORE_MODULE) -> bool:
    """Whether a GX 1.x filesystem store can be read from its files without importing GX (about
    3 s): GX's own backend with the default layout (no prefix, template or key length)."""
    return (module == GX_STORE_MODULE and str(backend.get("class_name")) == "TupleFilesystemStoreBackend"
            and set(backend) <= _NATIVE_OPTIONS
            and isinstance(backend.get("filepath_suffix", ".json"), str))


class NativeFilesystemStore(FileTupleStore):
    """A GX 1.x `TupleFilesystemStoreBackend` with the default layout, read as GX lists and reads
    it: every file under the base whose path ends with the store's suffix (`.json` by default)
    is a key, its path parts without the suffix; `.ipynb_checkpoints` are ignored."""

    def __init__(self, base: Path, suffix: str, label: str) -> None:
        super().__init__(base, suffix, label)

    def keys(self) -> list[tuple[str, ...]]:
        return [k for k in super().keys() if not any(".ipynb_checkpoints" in part for part in k)]


class GxBackendStore:
    """A GX store backend, used for `list_keys` and `get` only."""

    def __init__(self, backend: Any, label: str) -> None:
        self.backend = backend
        self.label = label

    def keys(self) -> list[tuple[str, ...]]:
        return [tuple(k) for k in self.backend.list_keys() if tuple(k) != STORE_ID_KEY]

    def read(self, key: tuple[str, ...]) -> str:
        return self.backend.get(key)


def backend_label(backend: dict[str, Any]) -> str:
    cls = str(backend.get("class_name") or "InMemoryStoreBackend")
    where = backend.get("base_directory") or "/".join(
        str(backend[k]) for k in ("bucket", "container", "prefix") if backend.get(k)
    )
    return f"{cls} {where}".strip()


_VARIABLE = re.compile(r"(?<!\\)\$\{([^}]{0,256})\}|(?<!\\)\$([_a-zA-Z][_a-zA-Z0-9]{0,255})")


class MissingVariable(Exception):  # noqa: N818 - named as GX names it (missing_config_variable)
    def __init__(self, name: str, why: str) -> None:
        super().__init__(name)
        self.missing_config_variable, self.why = name, why


class ConfigVariables:
    """`${VAR}` substitution as GX does it, from the project's own config variables file only.

    GX also takes values from the environment and fetches `secret|...` references from secret
    stores; an audit must do neither: the auditor's environment and credentials are not the
    project's, and whatever is substituted can end up in a report (a store's base directory is
    shown). A variable the file does not define leaves that store unread, with the reason."""

    def __init__(self, values: dict[str, Any], note: str = "") -> None:
        self.values = values
        self.note = note  # why the file gave nothing, when it did not

    def substitute_config(self, config: Any) -> Any:
        if isinstance(config, dict):
            return {k: self.substitute_config(v) for k, v in config.items()}
        if isinstance(config, list):
            return [self.substitute_config(v) for v in config]
        if not isinstance(config, str):
            return config
        text = config
        for m in _VARIABLE.finditer(config):
            name = m.group(1) or m.group(2)
            if name not in self.values or self.values[name] is None:
                raise MissingVariable(name, self.note)
            value = self.values[name]
            if not isinstance(value, str):
                return value
            text = text.replace(m.group(0), value)
        text = text.replace("\\$", "$")
        if text.startswith("secret|"):
            raise StoreUnavailable("refers to a secret store (secret|...); mlaudit never fetches secrets")
        return text


def config_provider(context_dir: Path, config: dict[str, Any]) -> ConfigVariables:
    """The project's config variables (`config_variables_file_path`, read within the project and
    never from the environment), as the substitution for its stores' configs."""
    raw = config.get("config_variables_file_path")
    if not raw:
        return ConfigVariables({}, "the project names no config variables file")
    root = context_dir.resolve()
    path = (root / str(raw)).resolve()
    if "$" in str(raw) or not (path == root or root in path.parents or root.parent in path.parents):
        return ConfigVariables({}, f"the config variables file {raw} is outside the project, so it is not read")
    try:
        data = safe_yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ConfigVariables({}, f"{raw} does not exist")
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return ConfigVariables({}, f"{raw} cannot be read: {type(exc).__name__}")
    if not isinstance(data, dict):
        return ConfigVariables({}, f"{raw} is not a mapping")
    return ConfigVariables({str(k): v for k, v in data.items()})


def open_gx_store(context_dir: Path, name: str, store_config: Any, provider: Any,
                  boundary: Path | None = None) -> TupleStore:
    """Build one GX 1.x store's backend the way GX does, guarded so that nothing is written;
    a filesystem store outside `boundary` (see `filesystem_base`) is not read."""
    if not isinstance(store_config, dict):
        raise StoreUnavailable(f"store '{name}' has no configuration")
    try:
        cfg = provider.substitute_config(copy.deepcopy(store_config))
    except MissingVariable as exc:
        raise StoreUnavailable(
            f"store '{name}': config variable ${{{exc.missing_config_variable}}} is not defined in the "
            "project's config variables file" + (f" ({exc.why})" if exc.why else "")
            + "; mlaudit never takes values from its own environment"
        ) from None
    except StoreUnavailable as exc:
        raise StoreUnavailable(f"store '{name}' {exc}") from None
    store_cls = str(cfg.get("class_name") or "")
    store_module = str(cfg.get("module_name") or GX_STORE_MODULE)
    backend = dict(cfg.get("store_backend") or {"class_name": "InMemoryStoreBackend"})
    cls = str(backend.get("class_name") or "")
    module = str(backend.get("module_name") or GX_STORE_MODULE)
    label = backend_label(backend)
    if not store_module.startswith("great_expectations") or store_cls not in STORE_CLASSES:
        raise StoreUnavailable(
            f"store '{name}' uses {store_module}.{store_cls}, which mlaudit does not load "
            "(it only runs GX's own store classes, never project code)"
        )
    if not module.startswith("great_expectations"):
        raise StoreUnavailable(
            f"store '{name}' uses the backend {module}.{cls or '?'}, which mlaudit does not load "
            "(it only runs GX's own store backends, never project code)"
        )
    if cls not in READABLE_BACKENDS:
        raise StoreUnavailable(
            f"store '{name}' uses the backend {cls or '?'}, which mlaudit cannot read without "
            f"writing to it (readable: {', '.join(sorted(READABLE_BACKENDS))})"
        )
    if cls == "InMemoryStoreBackend":
        return EmptyStore(f"{label} (keeps nothing between runs)")
    if cls == "TupleFilesystemStoreBackend":
        base = filesystem_base(context_dir, backend, name, boundary)
        if not base.is_dir():
            # GX would create it; an absent folder means nothing was ever stored here
            return EmptyStore(f"{label} (folder absent)")
        if native_filesystem(backend, module):
            return NativeFilesystemStore(base, str(backend.get("filepath_suffix") or ".json"), label)
        backend["base_directory"] = str(base)
        backend.pop("root_directory", None)
    import great_expectations
    from great_expectations.data_context import store as gx_store

    if module == GX_STORE_MODULE and not hasattr(gx_store, cls):
        raise StoreUnavailable(
            f"store '{name}' uses {cls}, which the installed great_expectations "
            f"{great_expectations.__version__} does not provide, so GX itself cannot read it"
        )
    backend["suppress_store_backend_id"] = True
    backend.pop("manually_initialize_store_backend_id", None)
    cfg["store_backend"] = backend
    from great_expectations.data_context.util import instantiate_class_from_config

    try:
        store = instantiate_class_from_config(
            config=cfg,
            runtime_environment={"root_directory": str(context_dir)},
            config_defaults={"module_name": GX_STORE_MODULE, "store_name": name},
        )
    except Exception as exc:  # noqa: BLE001 - missing extras, credentials, bad parameters
        raise StoreUnavailable(f"store '{name}' ({label}): {type(exc).__name__}: {exc}") from None
    return GxBackendStore(store._store_backend, label)


def filesystem_base(context_dir: Path, backend: dict[str, Any], name: str = "",
                    boundary: Path | None = None) -> Path:
    """A filesystem store's folder, as GX finds it (an absolute `base_directory`, else under
    `root_directory` or the context folder). The audited project's config must not make mlaudit
    read arbitrary files of the auditor's machine: a folder outside `boundary` (the repository
    or project holding the config), absolute or reached through `..` or a symlink, is refused."""
    base = Path(str(backend.get("base_directory") or ""))
    if not base.is_absolute():
        root = backend.get("root_directory")
        base = (Path(str(root)) if root else context_dir) / base
    if boundary is not None and not within(boundary, base):
        raise StoreUnavailable(
            f"store '{name}' keeps its files in {base}, outside the audited project ({boundary}), "
            "so it is not read (an audited config never makes mlaudit read files elsewhere on this "
            "machine; configure that folder's project as a gx project of its own to audit it)")
    return base


def within(boundary: Path, path: Path) -> bool:
    """Whether `path`, symlinks resolved, is `boundary` or lies under it."""
    bound, target = boundary.resolve(), path.resolve()
    return target == bound or bound in target.parents


def legacy_store(
    context_dir: Path, name: str, store_config: Any, suffix: str | tuple[str, ...],
    boundary: Path | None = None,
) -> TupleStore:
    """A 0.x store read from its files; only the filesystem backend can be read without GX 0.x."""
    if not isinstance(store_config, dict):
        raise StoreUnavailable(f"store '{name}' has no configuration")
    backend = dict(store_config.get("store_backend") or {"class_name": "InMemoryStoreBackend"})
    cls = str(backend.get("class_name") or "")
    label = backend_label(backend)
    if cls == "InMemoryStoreBackend":
        return EmptyStore(f"{label} (keeps nothing between runs)")
    if cls != "TupleFilesystemStoreBackend":
        raise StoreUnavailable(
            f"legacy 0.x store '{name}' uses {cls or 'an unnamed backend'}; mlaudit reads legacy "
            "projects from their files and only reads the TupleFilesystemStoreBackend"
        )
    base = filesystem_base(context_dir, backend, name, boundary)
    if not base.is_dir():
        return EmptyStore(f"{label} (folder absent)")
    return FileTupleStore(base, suffix, label)
