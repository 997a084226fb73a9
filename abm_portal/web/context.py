"""What every page needs from the app: settings, a database session factory and the templates."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from fastapi.templating import Jinja2Templates
from sqlmodel import Session

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class WebContext:
    settings: Any
    session_factory: SessionFactory
    templates: Jinja2Templates
