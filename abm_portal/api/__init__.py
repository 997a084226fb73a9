"""The portal's REST API for connectors and scripts (bearer tokens, JSON, RFC 9457 problems, OpenAPI at /docs)."""

from fastapi import APIRouter

from abm_portal.api.problems import install_problem_handlers
from abm_portal.api.routes import assets, health, oauth, organisations, subscriptions, trail, transfers

api_router = APIRouter()
for _module in (oauth, organisations, assets, subscriptions, transfers, trail, health):
    api_router.include_router(_module.router)

OPENAPI_TAGS = [
    {"name": "oauth", "description": "Connector identity: OAuth2 client credentials, signing keys (JWKS)"},
    {"name": "organisations", "description": "Connector endpoints and public keys"},
    {"name": "assets", "description": "Published asset-type metadata and catalog search"},
    {"name": "subscriptions",
     "description": "Date-ranged subscriptions, decisions, grants and real-time progress (DESIGN §4–§6)"},
    {"name": "transfers", "description": "Historical transfer jobs and the connectors' reports"},
    {"name": "revocations", "description": "Revoked grants: the feed connectors poll, and the same as a stream of "
                                           "Server-Sent Events that pushes each one as it is written"},
    {"name": "audit", "description": "The organisation's append-only audit trail"},
    {"name": "health", "description": "Liveness, readiness and metrics"},
]

__all__ = ["OPENAPI_TAGS", "api_router", "install_problem_handlers"]
