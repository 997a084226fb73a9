"""The runnable examples of README.md: its fenced code blocks whose info string is exactly ``sh``.

The convention, which ``tests/test_readme_examples.py`` states in full: a block fenced with ```` ```sh ```` at the
start of a line runs as it stands against the demo; every other fence (```` ```console ````, ```` ```text ````,
```` ```json ````, …) is for reading only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(?P<info>[^`\s]*)\s*$")


@dataclass(frozen=True)
class Example:
    line: int  # the README's line number (1-based) of the block's first line, the one after the fence
    text: str  # the block's lines as the README has them, without the fences

    @property
    def title(self) -> str:
        """The block's first line: its ``# …`` comment, which says what it shows."""
        return self.text.splitlines()[0] if self.text else ""

    def __str__(self) -> str:
        return f"README.md line {self.line}: {self.title}"


def runnable_examples(path: Path = README) -> list[Example]:
    """Every ``sh`` block of ``path``, in the order of the file. A fence opened and never closed is an error."""
    found: list[Example] = []
    info: str | None = None  # the open fence's info string, None outside a block
    start, lines = 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = FENCE.match(line)
        if info is None:
            if fence:
                info, start, lines = fence["info"], number + 1, []
        elif line.rstrip() == "```":
            if info == "sh":
                found.append(Example(start, "\n".join(lines)))
            info = None
        else:
            lines.append(line)
    if info is not None:
        raise ValueError(f"{path.name}: the code block opened on line {start - 1} is never closed")
    return found
