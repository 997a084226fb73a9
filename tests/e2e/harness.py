"""Real processes for whole-system tests: the drivers of ``aadsys.processes``, with their set-up done in-process.

The processes run as they do in production (``python -m abm_portal serve``, ``python -m aadsys serve``) and are
driven through their HTTP APIs. What comes before serving — an organisation registered at the portal, an AAdSys's
data dir, database and API keys — is prepared here, through the same services the command lines call
(``organisations.register_organisation``, ``write_config_file``, the migrated databases of
``tests.support.databases``, ``api_keys.create_key``), because each command line spends a second or more
importing. The command lines keep their own subprocess tests (``tests/*/test_cli.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

from aadsys.processes import (
    AadsysProcess,
    Organisation,
    PortalProcess,
    ProcessError,
    RunTls,
    ServerProcess,
    http_client,
    proc_status_bytes,
    wait_for,
)
from aadsys.samples import sales_order
from tests.support.databases import AadsysTemplates

__all__ = ["AadsysFactory", "HarnessError", "Organisation", "PreparedAadsys", "PreparedPortal", "ServerProcess",
           "http_client", "member_factory", "post_orders", "proc_status_bytes", "received", "running_portal",
           "wait_for"]

HarnessError = ProcessError
PASSWORD = "e2e juice all the way down"  # every org admin's, e.g. for a browser login


class PreparedPortal(PortalProcess):
    """A portal whose organisations are registered in-process, on its own database, while it serves."""

    def register(self, name: str, admin_email: str | None = None, password: str = PASSWORD) -> Organisation:
        from abm_portal.config import load_settings
        from abm_portal.db import Database
        from abm_portal.services import organisations, personal_tokens, users

        email = admin_email or f"admin@{name.lower().replace(' ', '-')}.example"
        database = Database(load_settings(data_dir=self.data_dir).resolved_database_url)
        try:
            with database.session() as db:
                org, admin, secret = organisations.register_organisation(db, name=name, description="",
                                                                         admin_email=email, admin_password=password)
                token = personal_tokens.create_personal_token(db, users.actor_for_user(db, admin), "e2e")
                made = Organisation(name, org.id, org.client_id, secret, email, token)
        finally:
            database.dispose()
        self.orgs[name] = made
        return made


class PreparedAadsys(AadsysProcess):
    """An AAdSys whose data dir, migrated database and API keys are made in-process, as ``aadsys init`` and
    ``aadsys keys create`` make them."""

    def __init__(self, data_dir: Path, templates: AadsysTemplates, *, org: str, base_iri: str,
                 env: Mapping[str, str] | None = None, port: int | None = None, tls: RunTls | None = None) -> None:
        super().__init__(data_dir, org=org, base_iri=base_iri, env=env, port=port, tls=tls)
        self.templates = templates

    def init(self, *, portal: PortalProcess | None = None, organisation: Organisation | None = None,
             database_url: str | None = None, public_url: str | None = None, postgresql: bool = False) -> None:
        from aadsys.config import write_config_file

        if (portal is None) != (organisation is None):
            raise ValueError("portal and organisation go together")
        if database_url is not None:
            raise ValueError("prepared members get a copy of a migrated template: pass postgresql=True instead")
        member: dict[str, Any] = {"public_url": public_url}
        if portal is not None and organisation is not None:
            secret = self.data_dir / "client-secret"
            self.data_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(organisation.client_secret + "\n")
            member.update(portal_url=portal.url, client_id=organisation.client_id, client_secret_file=secret)
        settings = self.templates.settings(self.data_dir, self.org, self.base_iri, postgresql=postgresql, **member)
        write_config_file(settings)

    def create_key(self, name: str = "erp", scope: str = "write") -> str:
        from aadsys.config import load_settings
        from aadsys.core import api_keys
        from aadsys.core.db import Database

        database = Database(load_settings(data_dir=self.data_dir).resolved_database_url)
        try:
            key = api_keys.create_key(database, name, [scope])
        finally:
            database.dispose()
        if scope == "write" and self.key is None:
            self.key = key
        return key


class AadsysFactory(Protocol):
    """The ``members`` fixture: an initialised, not yet started AAdSys in ``<e2e_dir>/<name>``, stopped at the
    end of the test; with ``organisation`` it is a member of the session's portal (its connector runs)."""

    def __call__(self, name: str, org: str, base_iri: str, organisation: Organisation | None, *,
                 postgresql: bool = False, env: Mapping[str, str] | None = None,
                 public_url: str | None = None) -> PreparedAadsys: ...


def member_factory(root: Path, request: pytest.FixtureRequest, templates: AadsysTemplates,
                   cleanup: ExitStack) -> AadsysFactory:
    """Makes initialised AAdSys processes below ``root``, each stopped by ``cleanup``; members of the session's
    portal (fixture ``portal``), which is started only for one that is given an organisation."""

    def make(name: str, org: str, base_iri: str, organisation: Organisation | None, *, postgresql: bool = False,
             env: Mapping[str, str] | None = None, public_url: str | None = None) -> PreparedAadsys:
        process = PreparedAadsys(root / name, templates, org=org, base_iri=base_iri, env=env)
        cleanup.callback(process.stop)
        portal: PreparedPortal | None = request.getfixturevalue("portal") if organisation else None
        process.init(portal=portal, organisation=organisation, public_url=public_url, postgresql=postgresql)
        return process

    return make


@contextmanager
def running_portal(data_dir: Path, tls: RunTls | None = None) -> Iterator[PreparedPortal]:
    """A serving portal (https with ``tls``), stopped on exit, always."""
    portal = PreparedPortal(data_dir, tls=tls)
    try:
        portal.init()
        portal.start()
        yield portal
    finally:
        portal.stop()


def post_orders(aadsys: AadsysProcess, n: int, *, prefix: str, size: int | None = None) -> list[str]:
    """Post ``n`` distinct Sales Orders (business JSON, about ``size`` bytes each) and return their order ids."""
    ids = [f"{prefix}-{i:05d}" for i in range(n)]
    with aadsys.api() as client:
        for order_id in ids:
            body = sales_order(order_id) if size is None else sales_order(order_id, target_bytes=size)
            response = client.post("/api/v1/asset-types/sales-order/instances", json=body)
            if response.status_code != 201:
                raise HarnessError(f"posting {order_id} to {aadsys!r}: {response.status_code} {response.text}")
    return ids


def received(aadsys: AadsysProcess, asset_type: str, provider: str) -> list[dict[str, Any]]:
    """The instances of ``asset_type`` that ``aadsys`` received from ``provider`` (an org slug), oldest first."""
    return aadsys.instances(asset_type, provider=provider)
