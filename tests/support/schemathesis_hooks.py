"""schemathesis hooks for both servers' contract runs (loaded by each ``schemathesis.toml``)."""

from __future__ import annotations

import json

import schemathesis
from schemathesis import Case, HookContext

# Query parameters whose valid values only the server can make: a cursor is the opaque ``nextCursor`` /
# ``paging_metadata.cursor`` of a page it served. A generated string is not one, and "valid by the schema" cannot
# mean "accepted" for it; negative cases still send arbitrary cursors and must get a 4xx.
SERVER_ISSUED = ("cursor",)


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    meta = case.meta
    if case.query and meta is not None and meta.generation.mode.is_positive:
        for name in SERVER_ISSUED:
            case.query.pop(name, None)
    return case


@schemathesis.serializer("application/x-ndjson")
def ndjson(context: schemathesis.SerializationContext, value: object) -> bytes:
    """An array as newline-delimited JSON, an element a line (the document states an NDJSON body as the array of
    its lines). A value that is not an array has no NDJSON form: it goes as an empty body, which holds no record."""
    if not isinstance(value, list):
        return b""
    return b"".join(json.dumps(element).encode() + b"\n" for element in value)
