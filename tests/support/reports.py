"""What the report tests share: a PDF's text through pdftotext, and its first page as a picture for the docs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def screenshots(tmp_path: Path) -> Path:
    """Where a report test saves its pictures: ``PAGES_SCREENSHOTS`` when set (``scripts/screenshots.sh`` sets it to
    ``docs/screenshots``), else the test's ``tmp_path``: a plain test run takes them but leaves the docs alone."""
    folder = Path(os.environ.get("PAGES_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pdf_text(pdf: Path) -> str:
    """The PDF's text as poppler's pdftotext reads it (layout kept, so figures stay on their lines)."""
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def save_first_page(pdf: Path, png: Path) -> None:
    """Page 1 through pdftoppm as ``png``."""
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(png.with_suffix(""))], check=True)
