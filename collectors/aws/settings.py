"""The AWS source's settings (the config's `aws:` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


def from_config(aws: dict[str, Any], where: Any) -> AwsSettings:
    """The `aws:` section as settings."""
    regions = aws.get("regions")
    settings = AwsSettings(
        regions=tuple(regions) if isinstance(regions, list) else regions,
        max_workers=aws.get("max_workers", 8), timeout_s=aws.get("timeout_s"),
    )
    if "accounts" in aws:
        settings.accounts = [
            AwsAccount(name=a.get("name"), profile=a.get("profile"), role_arn=a.get("role_arn"),
                       external_id=a.get("external_id"),
                       regions=tuple(a["regions"]) if isinstance(a.get("regions"), list) else a.get("regions"))
            for a in aws["accounts"]
        ]
    return settings
