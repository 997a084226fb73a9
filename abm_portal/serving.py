"""Running the portal under uvicorn: the one place that turns settings into uvicorn's options.

``abm-portal serve`` starts ``settings.workers`` worker processes through :func:`worker_app`, uvicorn's app
factory: each worker is a fresh interpreter that builds its own app from the same settings (the environment and
``<data_dir>/portal.toml``; ``config.hand_to_workers`` tells it the data directory). Workers share nothing but the
database, so any of them, or of another host's, answers any request (DESIGN §10).

Proxy headers: uvicorn believes ``X-Forwarded-For`` and ``X-Forwarded-Proto`` from 127.0.0.1 unless told
otherwise. The portal believes them from the ``forwarded_allow_ips`` setting's addresses only, default none:
on a host where other programs may connect from loopback, trusting loopback lets any of them choose the
address that login throttling counts against.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from abm_portal.config import Settings, load_settings, trusted_proxies

APP_FACTORY = "abm_portal.serving:worker_app"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Options of ``uvicorn.run`` / ``uvicorn.Config`` that follow from the settings (not host, port, app)."""
    trusted = trusted_proxies(settings.forwarded_allow_ips)
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted, "workers": settings.workers,
            "log_level": "info", "ssl_certfile": settings.tls_cert, "ssl_keyfile": settings.tls_key}


def worker_app() -> FastAPI:
    """The app of one worker process, from the settings the serving process handed on."""
    from abm_portal.app import create_app

    return create_app(load_settings())
