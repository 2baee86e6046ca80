"""What every collector is: something that turns configured targets into evidence.

Collectors know nothing of levels or checks. The engine runs each one in its own worker with a
timeout; whatever a collector raises is recorded as its failure and never stops the others.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from mlaudit.evidence import AS_OF_NOT_READ, EvidenceItem


class CollectorError(Exception):
    """A collector could not do its job; the message is shown to the user as is."""


@dataclass
class TargetError:
    """One target (a repository, a server, an account) that could not be read."""

    target: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"target": self.target, "message": self.message}


@dataclass
class CollectorResult:
    evidence: list[EvidenceItem] = field(default_factory=list)
    # targets that were read, with what the report should say about each
    targets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[TargetError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # signals the collector could not assess although it ran (e.g. a denied API): name -> why
    gaps: dict[str, str] = field(default_factory=dict)


#: the environment variable naming the run's own temporary folder (made and removed by the CLI):
#: scratch space a collector makes goes inside it, so nothing outlives even a hard exit
RUN_TMP_ENV = "MLAUDIT_RUN_TMP"


@dataclass
class CollectContext:
    """Run-wide settings every collector may read."""

    lookback_days: int = 180
    cache_dir: str | None = None
    #: the audit's date when it is not now (`scan --as-of`): git is read at the last commit on or
    #: before it and windows count back from it; live sources cannot show a past date
    as_of: datetime | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("mlaudit"))

    def now(self) -> datetime:
        """The moment windows count back from: the as-of date, else now."""
        from datetime import UTC

        return self.as_of or datetime.now(UTC)


class Collector(ABC):
    #: name used in config, evidence and the report ("git", "mlflow", "aws", "gx")
    name: ClassVar[str]
    #: the rubric's collector letter (G, M, A, X, S): which checks it can assess
    letter: ClassVar[str]

    #: a live source (a server, an account) shows only its present state
    live: ClassVar[bool] = False

    @abstractmethod
    def collect(self, ctx: CollectContext) -> CollectorResult:
        """Read every target; raise CollectorError when nothing at all could be read."""

    def unreadable_as_of(self, as_of: datetime) -> str | None:
        """Why this source cannot show the organisation as it was at `as_of` (an as-of audit or
        a backfilled quarter), or None when it can (git reads the commit of that day)."""
        if self.live:
            return f"{AS_OF_NOT_READ}: live sources show today, not {as_of.date().isoformat()}"
        return None

    @property
    def timeout_s(self) -> float | None:
        """This collector's own timeout (`timeout_s` in its config section), if it has one."""
        return getattr(getattr(self, "settings", None), "timeout_s", None)

    def describe(self) -> str:
        return self.name


# -- progress ---------------------------------------------------------------------------------
class Progress:
    """Targets done out of a total, for one collector; the default shows nothing."""

    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


_progress_factory: Callable[[str, int], Progress] | None = None
_progress_lock = threading.Lock()


def set_progress(factory: Callable[[str, int], Progress] | None) -> None:
    """How progress is shown (the CLI sets a terminal bar; nothing by default)."""
    global _progress_factory
    with _progress_lock:
        _progress_factory = factory


def progress(collector: str, total: int) -> Progress:
    """A progress display for `total` targets of one collector (a no-op unless one is set)."""
    with _progress_lock:
        factory = _progress_factory
    return factory(collector, total) if factory is not None and total > 0 else Progress()
