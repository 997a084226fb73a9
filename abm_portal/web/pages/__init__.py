"""Every page of the portal UI, one module per area; all use :class:`PageRoute`."""

from fastapi import APIRouter

from abm_portal.web.pages import audit, auth, catalog, home, organisation, reports, subscriptions
from abm_portal.web.routing import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
for _module in (home, auth, organisation, catalog, subscriptions, audit, reports):
    router.include_router(_module.router)

__all__ = ["router"]
