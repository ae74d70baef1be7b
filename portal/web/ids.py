"""Row ids in URLs and query strings: whole numbers the database can hold.

Our id columns are `integer` on PostgreSQL (and SQLite's integer stops at 2**63 - 1): a
larger number sent to the database is an error there, not an empty answer. So an id
outside 1..MAX_ID never reaches a query: in a path it matches no route (a 404), in a
query string it is ignored.
"""

from flask import request
from werkzeug.routing import IntegerConverter, Map

# The largest value of PostgreSQL's `integer`, the type of every id column.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a row id from 1 to MAX_ID; anything else is a 404."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def id_arg(name: str) -> int | None:
    """The query parameter `name` as a row id, or None when it is absent or no id at all
    (not a whole number, or outside 1..MAX_ID)."""
    return id_value(request.args.get(name, ""))


def id_value(text: str) -> int | None:
    """`text` as a row id, or None when it is no id at all (not a whole number, or
    outside 1..MAX_ID)."""
    # More digits than MAX_ID has is out of range anyway (and never worth converting).
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
