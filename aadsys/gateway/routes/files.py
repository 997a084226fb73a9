"""Files: upload with a size limit and optional digest check; download by sha256."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from pydantic import WithJsonSchema
from starlette.responses import FileResponse, JSONResponse

from aadsys.gateway.bodies import media_type_of
from aadsys.gateway.deps import ContextDep, Files, Reader, Writer
from aadsys.gateway.file_links import file_link
from aadsys.gateway.problems import ProblemError, problem_responses

router = APIRouter(tags=["files"], responses=problem_responses(401, 403))
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
STORED_FILE: dict[str, Any] = {"application/json": {"schema": {
    "type": "object", "required": ["sha256", "size", "mediaType", "links"],
    "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "size": {"type": "integer"},
                   "mediaType": {"type": "string"},
                   "links": {"type": "object", "properties": {"self": {"type": "string"}}}}}}}


@router.post("/files", status_code=201, summary="Upload a file (raw body; Content-Type is its media type)",
             responses={200: {"description": "the same content is stored already", "content": STORED_FILE},
                        201: {"description": "stored", "content": STORED_FILE},
                        **problem_responses(400, 413, 422, s400="X-Content-SHA256 is not 64 hex digits",
                                            s413="Larger than max_file_bytes",
                                            s422="The body does not match X-Content-SHA256")},
             openapi_extra={"requestBody": {"required": True, "content": {"*/*": {"schema": {
                 "type": "string", "format": "binary"}}}}})
async def upload_file(request: Request, ctx: ContextDep, files: Files, _: Writer,
                      x_content_sha256: Annotated[str | None, Header(description="hex sha256 the body must have"),
                                                  WithJsonSchema({"type": "string", "pattern": "^[0-9a-fA-F]{64}$"})
                                                  ] = None) -> JSONResponse:
    media = media_type_of(request) or "application/octet-stream"
    if x_content_sha256 is not None and not _SHA256.match(x_content_sha256.lower()):
        raise ProblemError(400, "invalid-digest", "Invalid digest header",
                           "X-Content-SHA256 must be 64 hexadecimal characters")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > ctx.settings.max_file_bytes:
        raise ProblemError(413, "file-too-large", "File too large",
                           f"the file exceeds {ctx.settings.max_file_bytes} bytes")
    stored, created = await files.put(request.stream(), media, max_bytes=ctx.settings.max_file_bytes,
                                      expected_sha256=x_content_sha256)
    body: dict[str, Any] = {"sha256": stored.sha256, "size": stored.size, "mediaType": stored.media_type,
            "links": {"self": file_link(stored.sha256)}}
    return JSONResponse(body, status_code=201 if created else 200, headers={"Location": body["links"]["self"]})


@router.get("/files/{sha256}", summary="Download a file by its sha256", response_class=FileResponse,
            responses={200: {"description": "the file, with the media type it was uploaded with",
                             "content": {"*/*": {}}},
                       **problem_responses(404, 422, s404="No file with this sha256 here",
                                           s422="sha256 is not 64 hex digits")})
def download_file(sha256: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$")], files: Files, _: Reader
                  ) -> FileResponse:
    stored = files.get(sha256.lower())
    return FileResponse(stored.path, media_type=stored.media_type,
                        headers={"ETag": f'"{stored.sha256}"', "Cache-Control": "private, immutable"})
