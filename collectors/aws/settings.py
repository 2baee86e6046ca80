"""The AWS source's settings (the config's `aws:` section)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AwsAccount:
    name: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    regions: tuple[str, ...] | str | None = None  # None: the settings' default; "all": every enabled region


@dataclass
class AwsSettings:
    accounts: list[AwsAccount] = field(default_factory=lambda: [AwsAccount()])
    regions: tuple[str, ...] | str | None = None  # None: the credential chain's region
    max_workers: int = 8
    timeout_s: float | None = None
