"""Secret redaction applied to everything read from audited systems before it is kept."""

from __future__ import annotations

import re

MASK = "***"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # user:password@host in URIs (keep the user, drop the password)
    (re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(?P<post>@)"), r"\g<pre>" + MASK + r"\g<post>"),
    # AWS access key ids and secret keys
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"(?i)(aws_secret_access_key\s*[=:]\s*['\"]?)[A-Za-z0-9/+=]{40}"), r"\1" + MASK),
    # GitHub, GitLab, Slack, OpenAI-style and generic bearer tokens
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), MASK),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), MASK),
    (re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}\b"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"), MASK),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]{16,}=*"), r"\1" + MASK),
    # key = "value" assignments whose name says secret
    (
        re.compile(
            r"(?i)(?P<key>\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\w.-]*"
            r"\s*[=:]\s*)(?P<q>['\"]?)(?P<val>[^'\"\s,;}{)]{4,})(?P=q)"
        ),
        r"\g<key>\g<q>" + MASK + r"\g<q>",
    ),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)"), MASK),
]


def redact(text: str) -> str:
    """Mask credentials in `text`; safe to call on any string, idempotent."""
    if not text:
        return text
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text
