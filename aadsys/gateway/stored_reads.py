"""``StoredReads``: the most polled Part 2 reads, answered before FastAPI's routing.

``GET /api/v3.0/shells/{id}``, ``/submodels/{id}`` and ``/submodels/{id}/$value`` with no query are a key check and
one indexed lookup that hands back stored bytes; ``/submodels/{id}/submodel-elements/{idShortPath}`` and its
``$value`` parse that one submodel's stored bytes and cut the element out with the very functions the routes use
(``element_at``, ``element_value_at``). Measured on this 2-core machine, FastAPI's routing and dependency
resolution around them cost four times the read itself (docs/architecture.md, "The read path"). This ASGI
middleware answers exactly those requests when they succeed, with the bytes and headers the routes would send, and
passes every other request, and every one that would fail (no key, unknown key, missing scope, bad identifier,
not found, no such element, a submodel holding a Blob), to the app unchanged: the routes stay the one place that
decides errors, modifiers and the OpenAPI document. A test holds the two answers byte-equal.
"""

from __future__ import annotations

import re
from functools import lru_cache

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from aadsys.gateway.context import AadsysContext
from aadsys.gateway.part2.elements import element_at, element_value_at
from aadsys.gateway.part2.identifiers import decode_id
from aadsys.gateway.part2.patterns import ELEMENT_PATH
from aadsys.gateway.part2.repository import Found
from aadsys.gateway.part2.results import AasApiError
from aadsys.metrics import ROUTE_KEY
from aas_models.serialization import Json

# shells|submodels, the id, the idShortPath of an element (submodels only), $value
_READ = re.compile(rf"/api/v3\.0/(shells|submodels)/([A-Za-z0-9_-]+)(?:/submodel-elements/({ELEMENT_PATH}))?"
                   r"(/\$value)?")
_KEY_HEADER = b"x-api-key"
_SUBMODEL = "/api/v3.0/submodels/{submodelIdentifier}"
_ELEMENT = _SUBMODEL + "/submodel-elements/{idShortPath}"
_TEMPLATES = {("shells", False, False): "/api/v3.0/shells/{aasIdentifier}", ("submodels", False, False): _SUBMODEL,
              ("submodels", False, True): _SUBMODEL + "/$value", ("submodels", True, False): _ELEMENT,
              ("submodels", True, True): _ELEMENT + "/$value"}  # the routes' own, for the request metrics


class StoredReads:
    def __init__(self, app: ASGIApp, context: AadsysContext) -> None:
        self.app = app
        self.ctx = context
        self.served = 0  # answered here, not by the app (tests read it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            match = _READ.fullmatch(path[len(root):] if root and path.startswith(root) else path)
            body = None if match is None else await self._answer(scope, match)
            if body is not None:
                assert match is not None
                self.served += 1
                scope[ROUTE_KEY] = _TEMPLATES[match[1], bool(match[3]), bool(match[4])]
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", str(len(body)).encode()),
                                        (b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, match: re.Match[str]) -> bytes | None:
        """The body of a successful answer, or None to let the app answer."""
        if (match[1] == "shells" and (match[3] or match[4])) or not await self._may_read(scope):
            return None
        try:
            identifier = decode_id(match[2], "identifier")
        except AasApiError:
            return None  # the route answers 400
        repo = self.ctx.aas_served
        if match[1] == "shells":
            return await repo.get_shell(identifier)
        if match[4] and not match[3]:
            return await repo.get_submodel_value(identifier)
        submodel = await repo.get_submodel(identifier)
        if submodel is None:
            return None
        if match[3]:
            return _element(Found(identifier, submodel), match[3], value=bool(match[4]))
        # a Blob's value leaves only with extent=withBlobValue: the route removes it
        return None if Found(identifier, submodel).may_hold_blobs else submodel

    async def _may_read(self, scope: Scope) -> bool:
        key = next((value for name, value in scope["headers"] if name == _KEY_HEADER), None)
        if key is None:
            return self.ctx.settings.aas_anonymous_read
        scopes = await self.ctx.keys.scopes(key.decode("latin-1"))
        return scopes is not None and "read" in scopes


def _element(submodel: Found, path: str, *, value: bool) -> bytes | None:
    """The element at ``path`` (or its ValueOnly form) as the route writes it; None when there is none."""
    parsed = _parsed(submodel.raw) if len(submodel.raw) <= _KEPT_BYTES else submodel.json
    try:
        return orjson.dumps(element_value_at(parsed, path) if value else element_at(parsed, path))
    except AasApiError:
        return None  # the route answers 404 (or 400)


_KEPT_BYTES = 32 * 1024  # submodels up to this size are kept parsed: at most 64 of them, a few MB


@lru_cache(maxsize=64)
def _parsed(raw: bytes) -> Json:
    """A submodel's bytes as served, parsed once for the element reads that follow: an element polled again parses
    nothing (parsing is most of an element read's own cost: ~40 us for a 10 KB submodel). Keyed by the bytes
    themselves, so a new revision or another file link is another key and nothing stale is ever served; the
    element functions only read it."""
    return orjson.loads(raw)  # type: ignore[no-any-return]
