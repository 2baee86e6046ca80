"""Secret redaction applied to everything read from audited systems before it is kept.

Every pattern runs in linear time on any input: a match can only start where a run of its
leading characters starts (a look-behind refuses positions inside a run), quantifiers that could
meet the same text twice are bounded or possessive, and a value is consumed whole once its key
matched. A megabyte of `x.` or `password=` is redacted in milliseconds, not minutes.

Two strengths:

- `redact(text)` — free text (excerpts, messages, attribute values): credentials in URLs, known
  token formats, `Authorization:` headers, private keys, and `key = value` assignments whose key
  says secret.
- `redact_locator(text)` — names and places (`repo:path:line@commit`, subjects): everything but
  the `key = value` rule, so `secretrepo:src/tokenizer.py:12@abc` stays a locator.
"""

from __future__ import annotations

import re

MASK = "***"
#: longest text kept from one field (a message, an attribute): a 5 MB server error body is cut
#: here, redacted with a margin so that a secret straddling the cut is still seen whole
MAX_TEXT = 64 * 1024

# scheme://userinfo@ — the scheme must start a run of scheme characters (no retry inside one)
_URL_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)"
    r"(?P<user>[^/\s:@?#]{0,256}+)(?::(?P<pw>[^@\s/?#]{0,1024}+))?@"
)
# a URL user name that is a credential itself (`https://TOKEN@host/...`)
_TOKEN_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "hf_", "sk-", "xox", "AKIA", "ASIA")
_TOKENISH = re.compile(r"(?=[^\s]*\d)[A-Za-z0-9_~+/=%.-]{16,}")


def _userinfo(m: re.Match[str]) -> str:
    user, pw = m.group("user"), m.group("pw")
    if user == MASK and pw is None:
        return m.group(0)
    token_user = user.startswith(_TOKEN_PREFIXES) or len(user) >= 32 or bool(_TOKENISH.fullmatch(user))
    if token_user or (pw is not None and not user):
        return m.group("scheme") + MASK + "@"
    if pw is not None:
        return m.group("scheme") + user + ":" + MASK + "@"
    return m.group(0)


# distinctive by themselves: masked everywhere, names and locators included
_TOKENS: list[tuple[re.Pattern[str], str]] = [
    # AWS access key ids and secret keys
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"(?i)(aws_secret_access_key[\"']?\s{0,16}[=:]\s{0,16}['\"]?)[A-Za-z0-9/+=]{40}"), r"\1" + MASK),
    # GitHub (classic and fine-grained), GitLab, Slack, Hugging Face, OpenAI-style tokens
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), MASK),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), MASK),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"), MASK),
    # Databricks personal access tokens (dapi + 32 hex, an optional -N suffix)
    (re.compile(r"\bdapi[0-9a-f]{32}(?:-\d+)?\b"), MASK),
    # Authorization headers: whatever follows the scheme (Basic, Bearer, token, Digest...)
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"']?\s{0,16}[:=]\s{0,16}[\"']?\s{0,4}"
            r"(?:(?:basic|bearer|token|digest|negotiate|ntlm)\s{1,16})?)"
            r"(?!(?:basic|bearer|token|digest|negotiate|ntlm)\s)[^\s\"',;]{6,}+"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer\s{1,16})[A-Za-z0-9._~+/-]{16,}+=*"), r"\1" + MASK),
    (re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]{0,40}PRIVATE KEY-----|$)"), MASK),
]

# free text only: key = "value" assignments whose name says secret; the name starts a run of
# name characters and is bounded, the value is taken whole (a missing closing quote is fine)
_ASSIGNMENTS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"(?i)(?<![\w.-])(?P<key>[\w.-]{0,64}?(?:password|passwd|secret|token(?!iz)|api[_-]?key|"
            r"access[_-]?key|private[_-]?key)[\w.-]{0,64}[\"']?\s{0,16}[=:]\s{0,16})"
            r"(?P<q>['\"]?)(?P<val>[^'\"\s,;}{)]{4,}+)"
        ),
        r"\g<key>\g<q>" + MASK,
    ),
]


# bytes that were not UTF-8 (a file name read with surrogateescape) cannot be written as text
_SURROGATE = re.compile("[\udc80-\udcff]")
# control characters end a one-line name: shown as git quotes them (`new\nline.py`)
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_NAMES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def printable(text: str, one_line: bool = False) -> str:
    """`text` that any UTF-8 output can hold: a byte that was not UTF-8 becomes `\\xNN` (as
    in git's quoted paths); with `one_line`, control characters become `\\n`, `\\t`, `\\xNN`."""
    text = _SURROGATE.sub(lambda m: f"\\x{ord(m[0]) - 0xDC00:02x}", text)
    if one_line:
        text = _CONTROL.sub(lambda m: _CONTROL_NAMES.get(m[0], f"\\x{ord(m[0]):02x}"), text)
    return text


# A necessary condition for any pattern of `_TOKENS` and `_ASSIGNMENTS` to match: each one needs
# one of these literals in the text (case-insensitively: a superset of the case-sensitive token
# prefixes), as `_URL_USERINFO` needs `://` and `@`. A text without them is returned as it is,
# without running the ~15 patterns; keep this list in step with the patterns
# (tests/test_security.py compares both paths on a large corpus).
_TRIGGERS = (
    r"akia|asia|aws_secret_access_key|gh[pousr]_|github_pat_|glpat-|xox[abpr]-|hf_|sk-|dapi"
    r"|authorization|bearer|-----begin|passw|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
)
_TRIGGER_LOWER = re.compile(_TRIGGERS)
_TRIGGER_ANYCASE = re.compile("(?i)" + _TRIGGERS)


def may_hold_secret(text: str) -> bool:
    """False when no pattern of `_TOKENS` or `_ASSIGNMENTS` can match `text` (it holds no
    trigger literal)."""
    if text.isascii():
        return _TRIGGER_LOWER.search(text.lower()) is not None
    return _TRIGGER_ANYCASE.search(text) is not None


def _apply(text: str, patterns: list[tuple[re.Pattern[str], str]], one_line: bool = False,
           fast: bool = True) -> str:
    if not text:
        return text
    text = printable(text, one_line)
    cut = len(text) - MAX_TEXT
    if cut > 0:
        text = text[: MAX_TEXT + 1024]
    if not fast or ("://" in text and "@" in text):
        text = _URL_USERINFO.sub(_userinfo, text)
    if not fast or may_hold_secret(text):
        for pattern, repl in patterns:
            text = pattern.sub(repl, text)
    return text[:MAX_TEXT] + f"… [{cut} characters cut]" if cut > 0 else text


_FREE_TEXT = _TOKENS + _ASSIGNMENTS
#: strings up to this length that redaction left unchanged are remembered (names, user ids,
#: subjects repeat across items); a string that had something masked is never kept
_MEMO_MAX = 256
_MEMO_SIZE = 4096
_CLEAN_TEXT: set[str] = set()
_CLEAN_LOCATORS: set[str] = set()


def _remembered(text: str, clean: set[str], patterns: list[tuple[re.Pattern[str], str]], one_line: bool) -> str:
    if not text or text in clean:
        return text
    out = _apply(text, patterns, one_line)
    if out == text and len(text) <= _MEMO_MAX:
        if len(clean) >= _MEMO_SIZE:
            clean.clear()
        clean.add(text)
    return out


def clear_memo() -> None:
    """Forget the remembered strings (a benchmark starting cold)."""
    _CLEAN_TEXT.clear()
    _CLEAN_LOCATORS.clear()


def redact(text: str) -> str:
    """Mask credentials in `text`; safe to call on any string, idempotent, linear time (and
    text over `MAX_TEXT` characters is cut)."""
    return _remembered(text, _CLEAN_TEXT, _FREE_TEXT, False)


def redact_locator(text: str) -> str:
    """Mask credentials in a name or locator: URLs and token formats only, never `key: value`.
    A locator is one printable line (see `printable`)."""
    return _remembered(text, _CLEAN_LOCATORS, _TOKENS, True)


def redact_full(text: str) -> str:
    """`redact` without the pre-check or the memo: every pattern runs (the reference the fast
    path is tested and benchmarked against)."""
    return _apply(text, _FREE_TEXT, fast=False)


def redact_locator_full(text: str) -> str:
    """`redact_locator` without the pre-check or the memo."""
    return _apply(text, _TOKENS, one_line=True, fast=False)
