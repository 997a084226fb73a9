"""IDTA AAS Part 2 API v3.0, read profiles AAS Repository SSP-002 and Submodel Repository SSP-002, and (with a
registry) AAS Registry SSP-002, Submodel Registry SSP-002 and Discovery SSP-001."""

from aadsys.gateway.part2.memory import InMemoryAasRepository
from aadsys.gateway.part2.repository import AasRegistry, AasRepository
from aadsys.gateway.part2.results import AasApiError, ResultRoute, result_route
from aadsys.gateway.part2.router import aas_api_router

__all__ = ["AasApiError", "AasRegistry", "AasRepository", "InMemoryAasRepository", "ResultRoute", "aas_api_router",
           "result_route"]
