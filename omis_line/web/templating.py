"""The Jinja2 templates of the operator's pages, with the filter every page writes times with."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from omis_line.clock import when

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["when"] = when
