"""Structured logs: text or JSON lines on stderr, and a debug line per job event.

Context travels in ``extra=`` fields (``rpc``, ``code``, ``reason``,
``job_id``...): the JSON format puts them in the object, the text format
appends them as ``key=value``.  Messages and string fields are bounded and
their control characters escaped, so client input can neither flood the
log nor forge a line of it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.grpc.echo import MESSAGE_LIMIT, bounded
from qapi_jobs.server.jobs.events import SubscriberDropped

LOG_FORMATS = ("text", "json")
EVENTS_LOGGER = "qapi_jobs.server.events"

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    # Extras carry client input (job ids, paths): bounded and escaped.
    return {
        key: bounded(value) if isinstance(value, str) else value
        for key, value in vars(record).items()
        if key not in _RECORD_FIELDS
    }


def _message(record: logging.LogRecord) -> str:
    return bounded(record.getMessage(), MESSAGE_LIMIT)


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``, then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as text; a traceback follows on its own lines."""
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {_message(record)}"
        extras = " ".join(f"{key}={value}" for key, value in _extras(record).items())
        if extras:
            line = f"{line} [{extras}]"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(
    log_format: str = "text", level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Send every log record of the process to ``stream`` (stderr) in ``log_format``."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


async def log_job_events(manager: JobView) -> None:
    """Log every job event at debug level until the manager's event log closes."""
    logger = logging.getLogger(EVENTS_LOGGER)
    subscription = manager.subscribe()
    while True:
        try:
            batch = await subscription.next_batch()
        except SubscriberDropped as dropped:
            logger.warning("event logging fell behind; skipping events: %s", dropped)
            subscription = manager.subscribe()
            continue
        if not batch:
            return
        for record in batch:
            logger.debug(
                "%s %s",
                record.name,
                json.dumps(dict(record.data), default=str),
                extra={"event": record.name, "seq": record.seq, "job_id": _job_of(record.data)},
            )


def _job_of(data: Mapping[str, object]) -> object:
    # BLOCK_JOB_* events name the job "device", JOB_STATUS_CHANGE "id".
    return data.get("id", data.get("device"))
