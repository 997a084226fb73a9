"""Reads the compose form as it streams in, so that a refused upload still brings back every typed value.

A browser sends a form's parts in the order of its fields, and the compose form puts the label image last: every
typed value has arrived before the first byte of the image. The reader keeps each text field whole (up to
``FIELD_LIMIT_BYTES``) and at most ``max_image_bytes + 1`` bytes of the image (the one byte more tells "too large"),
and only counts the rest, so an over-size image costs no memory and its real size can be reported. It reads on,
throwing the bytes away, up to ``read_limit`` bytes, so that the browser gets the answer page instead of a
connection reset; a body larger than that is cut off there, with every part read so far (RFC 9110 §15.5.14: the
server may close the connection to stop a client sending more).

Parts may come in any order (a script may send the image first): the fields that arrive are kept whatever the
order; only fields sent after an image that overflows ``read_limit`` are lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

FIELD_LIMIT_BYTES = 64 * 1024
MAX_FIELDS = 40


class FormUnreadable(ValueError):
    """The body is not a multipart form the compose page could have sent; the message says what is wrong."""


@dataclass
class Upload:
    """The file part: its name, its first ``max_image_bytes + 1`` bytes and how many bytes it had."""

    filename: str = ""
    head: bytearray = field(default_factory=bytearray)
    size: int = 0
    cut_off: bool = False  # the body was cut off within the image: ``size`` is a lower bound

    @property
    def chosen(self) -> bool:
        return bool(self.filename) or self.size > 0


@dataclass
class ReadForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    upload: Upload = field(default_factory=Upload)

    def text(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0] if values else ""

    def texts(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))


class _Part:
    def __init__(self) -> None:
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.name = ""
        self.is_file = False
        self.data = bytearray()


class _Collector:
    """The parser's callbacks: headers into a part, a part's bytes into a field or the upload."""

    def __init__(self, form: ReadForm, file_field: str, keep_bytes: int) -> None:
        self.form, self.file_field, self.keep_bytes = form, file_field, keep_bytes
        self.part = _Part()
        self.parts = 0

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_FIELDS:
            raise FormUnreadable(f"the form has more than {MAX_FIELDS} fields")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def on_header_end(self) -> None:
        part = self.part
        part.headers[bytes(part.header_name).lower()] = bytes(part.header_value)
        part.header_name, part.header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        part = self.part
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = options.get(b"name", b"").decode("utf-8", "replace")
        part.is_file = b"filename" in options
        if part.is_file:
            if part.name != self.file_field or self.form.upload.chosen:
                raise FormUnreadable(f"the form sends one file, as {self.file_field}")
            self.form.upload.filename = options[b"filename"].decode("utf-8", "replace")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part, chunk = self.part, data[start:end]
        if part.is_file:
            upload = self.form.upload
            upload.size += len(chunk)
            room = self.keep_bytes - len(upload.head)
            if room > 0:
                upload.head += chunk[:room]
            return
        part.data += chunk
        if len(part.data) > FIELD_LIMIT_BYTES:
            raise FormUnreadable(f"the field {part.name or '(unnamed)'} is longer than {FIELD_LIMIT_BYTES:,} bytes")

    def on_part_end(self) -> None:
        part = self.part
        if not part.is_file:
            self.form.fields.setdefault(part.name, []).append(part.data.decode("utf-8", "replace"))


async def read_multipart_form(request: Request, *, file_field: str, max_file_bytes: int,
                              read_limit: int) -> ReadForm:
    """The form in ``request``; the file part ``file_field`` kept up to ``max_file_bytes + 1`` bytes."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise FormUnreadable("the form must be sent as multipart/form-data")
    form = ReadForm()
    collector = _Collector(form, file_field, max_file_bytes + 1)
    parser = MultipartParser(boundary, {
        "on_part_begin": collector.on_part_begin, "on_header_field": collector.on_header_field,
        "on_header_value": collector.on_header_value, "on_header_end": collector.on_header_end,
        "on_headers_finished": collector.on_headers_finished, "on_part_data": collector.on_part_data,
        "on_part_end": collector.on_part_end})
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > read_limit:
                form.upload.cut_off = collector.part.is_file
                if not form.upload.cut_off:  # cut off in a text part: that field did not arrive whole
                    raise FormUnreadable(f"the form is larger than {read_limit:,} bytes")
                return form
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise FormUnreadable(f"the form is not valid multipart/form-data ({exc})") from None
    return form
