"""The stored parts of an instance row: its shell, submodels and their ValueOnly forms as slices of stored bytes.

``instances.spans`` says where each lies: ``"<shell>|<submodel>,<submodel>…|<value>,<value>…"``, each entry a
``start:end`` byte range, the first two groups in ``aas_json``, the last in ``value_json``. They are written
once with the row (``insert_instance``), so a read slices bytes and parses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aas_models import RenderedInstance

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Spans:
    shell: Span
    submodels: tuple[Span, ...]
    values: tuple[Span, ...]

    @classmethod
    def of(cls, rendered: RenderedInstance) -> Spans:
        return cls(rendered.spans[0], rendered.spans[1:], rendered.value_json[1])

    @classmethod
    def parse(cls, text: str) -> Spans:
        shell, submodels, values = text.split("|")
        return cls(_pairs(shell)[0], _pairs(submodels), _pairs(values))

    def format(self) -> str:
        return f"{_text((self.shell,))}|{_text(self.submodels)}|{_text(self.values)}"


def _pairs(text: str) -> tuple[Span, ...]:
    out = []
    for pair in text.split(",") if text else ():
        start, _, end = pair.partition(":")
        out.append((int(start), int(end)))
    return tuple(out)


def _text(spans: tuple[Span, ...]) -> str:
    return ",".join(f"{start}:{end}" for start, end in spans)


def shell_bytes(aas_json: bytes, spans: str) -> bytes:
    start, end = Spans.parse(spans).shell
    return aas_json[start:end]


def submodel_bytes(aas_json: bytes, spans: str, position: int) -> bytes | None:
    return _slice(aas_json, spans, 1, position)


def value_bytes(value_json: bytes, spans: str, position: int) -> bytes | None:
    return _slice(value_json, spans, 2, position)


def _slice(blob: bytes, spans: str, group: int, position: int) -> bytes | None:
    """Reads one entry of one group, not the whole text: a page slices a hundred rows."""
    entries = spans.split("|")[group]
    pairs = entries.split(",") if entries else ()
    if position >= len(pairs):
        return None
    start, _, end = pairs[position].partition(":")
    return blob[int(start):int(end)]
