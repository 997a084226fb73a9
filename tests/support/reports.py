"""What the report tests share: a PDF's text through pdftotext, and its first page as a picture for the docs."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pdf_text(pdf: Path) -> str:
    """The PDF's text as poppler's pdftotext reads it (layout kept, so figures stay on their lines)."""
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def save_first_page(pdf: Path, name: str) -> None:
    """Page 1 through pdftoppm as ``docs/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(SCREENSHOTS / name)], check=True)
