"""One logging pipeline for hwms and the libraries it uses (paho, sllurp, pymodbus, APScheduler).

JSON lines when stderr is not a terminal (journald, files), readable console output when it
is. Logs go to stderr so that commands can print data on stdout. Secrets never reach a log
line: tracebacks carry no local variables (a request handler's locals hold the bearer
token), fields named like secrets are masked, and `Bearer <token>` and `user:password@`
are masked in any text, library messages and exception texts included.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

MASK = "[redacted]"
SECRET_KEYS = re.compile(r"authorization|password|passwd|secret|token|api[_-]?key|cookie", re.I)
SECRET_TEXT = re.compile(
    r"(?P<a>\bBearer\s+)[A-Za-z0-9._~+/=-]+"  # an HTTP bearer token
    r"|(?P<b>://[^/\s:@]+:)[^@\s/]+(?=@)",  # the password of user:password@host in a URL
    re.I,
)


def scrub_text(text: str) -> str:
    return SECRET_TEXT.sub(lambda m: (m["a"] or m["b"]) + MASK, text)


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and SECRET_KEYS.search(k) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


def scrub_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
    """structlog processor: mask secrets in every field, whatever logged it."""
    return _scrub(dict(event))


def configure(level: str = "INFO", json_logs: bool | None = None) -> None:
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if json_logs:
        renderer = structlog.processors.JSONRenderer()
        shared.append(
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        )
    else:
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        shared.append(structlog.processors.format_exc_info)
    shared.append(scrub_secrets)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # chatty libraries: their warnings matter, their debug dumps do not
    for name in ("pymodbus", "sllurp", "apscheduler", "paho"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
