"""The service's own log: one line per event, JSON lines when LOG_FORMAT=json, plain text
otherwise, each carrying the id of the request it belongs to."""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from geo_service.settings import get_settings

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# Fields handlers pass with `extra=` that belong in the line.
FIELDS = ("request_id", "method", "path", "status", "duration_ms", "parcel", "event")
_HANDLER_NAME = "geo_service"


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None):
    return _request_id.set(value)


def reset_request_id(token) -> None:
    _request_id.reset(token)


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in FIELDS if getattr(record, k, None) is not None})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class Plain(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(
            f"{k}={getattr(record, k)}" for k in FIELDS if getattr(record, k, None) is not None
        )
        return f"{text} {extra}" if extra else text


def configure() -> None:
    """Send the geo_service loggers to stderr in the configured format; safe to call again
    (the handler is replaced, so a changed LOG_FORMAT takes effect)."""
    settings = get_settings()
    logger = logging.getLogger("geo_service")
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_RequestId())
    if settings.log_format.lower() == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(Plain("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())
    logger.propagate = True
