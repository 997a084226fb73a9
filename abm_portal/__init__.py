"""ABM Portal (Asset Brokering Manager): the marketplace and trust anchor of AAdSys (DESIGN §1, §4, §6).

``abm_portal.app.create_app`` builds the ASGI app (REST API and web UI); ``abm_portal.cli`` is the
``abm-portal`` command; ``abm_portal.services`` holds every domain operation.
"""
