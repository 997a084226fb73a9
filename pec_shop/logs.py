"""Structured log lines: an event name and ``key=value`` fields (logfmt), one line per happening."""

from __future__ import annotations

import logging

logger = logging.getLogger("pec_shop")


def log_event(level: int, event: str, **fields: object) -> None:
    parts = [f"event={event}"] + [f"{k}={_value(v)}" for k, v in fields.items() if v is not None]
    logger.log(level, " ".join(parts))


def _value(v: object) -> str:
    text = str(v)
    if not text or any(c in text for c in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def configure_logging(level: int = logging.INFO) -> None:
    """For ``serve``: the shop's own lines on stderr, beside uvicorn's."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
