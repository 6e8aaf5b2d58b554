"""Settings of the audit record's safety features (``[audit]`` keys beyond the writer's).

``[audit] redact_patterns = ["ACME-\\\\d{6}"]``: extra regular expressions (Python syntax)
whose matches are replaced by ``[REDACTED:custom]`` in the bodies of tenants with
``retention = "redacted"``. ``[audit] key_env`` (default ``"LLMGW_AUDIT_KEY"``): the
environment variable holding the key that signs prune checkpoints; when it is unset, a key
generated once is kept in ``audit.key`` next to the state file (mode 0600).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_KEY_ENV = "LLMGW_AUDIT_KEY"


@dataclass(slots=True, frozen=True)
class AuditSecurity:
    """Redaction patterns and the checkpoint key's variable (see the module docstring)."""

    redact_patterns: tuple[str, ...] = ()
    key_env: str = DEFAULT_KEY_ENV


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """The patterns as a tuple; raises ``ValueError`` naming the first that does not compile
    or that matches the empty string (it would redact between every character)."""
    out: list[str] = []
    for i, pattern in enumerate(patterns):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"redact_patterns[{i}]: bad regular expression: {exc}") from None
        if compiled.fullmatch(""):
            raise ValueError(f"redact_patterns[{i}]: the pattern matches the empty string")
        out.append(pattern)
    return tuple(out)
