"""Structured, journald-friendly logging that never carries citizen data.

Lines are ``event=NAME key=value ...`` (or one JSON object per line with ``--log-json``).
Callers log *events* with small metadata (counts, ms, status words, record ids); the formatter
refuses to render values of keys listed in :data:`PII_KEYS` so a careless call cannot leak a
name or ID number.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

PII_KEYS = frozenset(
    {"name", "full_name", "id_number", "cccd", "dob", "date_of_birth", "address", "residence",
     "hometown", "mrz", "face", "payload", "can", "father", "mother", "spouse", "old_id"}
)


class _EventFormatter(logging.Formatter):
    def __init__(self, *, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        extra = getattr(record, "kv", None)
        if isinstance(extra, dict):
            for key, value in extra.items():
                fields[key] = "[redacted]" if key in PII_KEYS else value
        if record.exc_info and record.exc_info[0] is not None:
            # Only the type: exception messages from third-party code may echo data.
            fields["exc"] = record.exc_info[0].__name__
        if self.as_json:
            return json.dumps(fields, ensure_ascii=False, default=str)
        return " ".join(f"{k}={_quote(v)}" for k, v in fields.items())


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


def setup(level: str = "info", *, as_json: bool = False) -> None:
    """Configure the root logger once for the process (stderr, which journald captures)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_EventFormatter(as_json=as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def event(logger: logging.Logger, name: str, level: int = logging.INFO, /, **kv: Any) -> None:
    """Log one structured event: ``event(log, "card.read", files=6, ms=812)``."""
    logger.log(level, name, extra={"kv": kv})
