"""The portal's server-rendered web UI: Jinja2 pages over the service layer (``abm_portal.services``).

``mount_web(app, settings, session_factory, session_secret)`` is the one way in; the app factory calls it.
"""

from abm_portal.web.mount import mount_web

__all__ = ["mount_web"]
