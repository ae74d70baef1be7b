"""Structured log events: one event name and its fields, never a secret.

`event(log, "sms.sent", message_id=7)` writes `sms.sent message_id=7` and hands the
fields to handlers as `record.event` / `record.fields`, so a JSON formatter can use
them as they are.
"""

import logging


def event(log: logging.Logger, name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log `name` with its fields; callers pass only values that are safe to keep."""
    if not log.isEnabledFor(level):
        return
    text = " ".join([name, *(f"{key}={value!r}" for key, value in fields.items())])
    log.log(level, text, extra={"event": name, "fields": fields})
