"""Typed errors a user can act on; the CLI turns them into exit codes."""

from __future__ import annotations


class MlauditError(Exception):
    """Base of errors shown to the user without a traceback."""

    exit_code = 2


class ConfigError(MlauditError):
    """A configuration problem, located by file, line and key where possible."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.file, self.line, self.key, self.detail = file, line, key, message
        where = file or "<config>"
        if line:
            where += f":{line}"
        prefix = f"{where}: " if file else ""
        keypart = f"key '{key}': " if key else ""
        super().__init__(f"{prefix}{keypart}{message}")


class UsageError(MlauditError):
    """A bad command-line argument or path."""
