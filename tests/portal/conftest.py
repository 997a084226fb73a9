"""Portal fixtures: one migrated portal per test module and database kind (SQLite, PostgreSQL) on a real uvicorn.

Tests keep apart the way tenants do: each registers its own organisations (unique names), publishes its own
assets and follows only its own subscriptions. A fresh portal per test would spend most of the suite's
time in migrations and argon2 hashing; one per module keeps the suite fast without sharing state that
a test depends on.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from abm_portal.app import create_app
from abm_portal.cli import prepare
from abm_portal.config import Settings
from abm_portal.db import Database
from abm_portal.services import organisations, personal_tokens, users
from abm_portal.services.actors import ORG_MEMBER
from tests.support.live_server import live_server
from tests.support.postgres import PostgresServer

PASSWORD = "correct horse battery staple"
# The portal listens on plain HTTP here; one TLS context for every client saves making one per client.
_TLS_CONTEXT = ssl.create_default_context()


@dataclass
class Account:
    """An organisation registered for one test: its admin's personal token and its connector's credentials."""

    org_id: str
    name: str
    admin_email: str
    admin_token: str
    client_id: str
    client_secret: str


@dataclass
class LivePortal:
    url: str
    settings: Settings
    database: Database

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=_TLS_CONTEXT)

    def register(self, prefix: str = "Org") -> Account:
        """A new organisation with an admin (who has a personal token); registered through the services."""
        run = uuid.uuid4().hex[:8]
        email = f"admin-{run}@{prefix.lower()}.example"
        with self.database.session() as db:
            org, admin, secret = organisations.register_organisation(
                db, name=f"{prefix} {run}", description=f"{prefix} for one test", admin_email=email,
                admin_password=PASSWORD)
            token = personal_tokens.create_personal_token(db, users.actor_for_user(db, admin), "tests")
        return Account(org.id, org.name, email, token, org.client_id, secret)

    def add_person(self, account: Account, role: str = ORG_MEMBER) -> str:
        """A colleague in ``account``'s organisation; returns their personal token."""
        with self.database.session() as db:
            admin = users.find_user(db, account.admin_email)
            person = users.add_member(db, users.actor_for_user(db, admin),
                                      email=f"{role}-{uuid.uuid4().hex[:8]}@{account.org_id[:8]}.example",
                                      password=PASSWORD, role=role)
            return personal_tokens.create_personal_token(db, users.actor_for_user(db, person), "tests")

    def connector_token(self, account: Account) -> str:
        """An access token of ``account``'s connector, by the client-credentials grant."""
        with self.client() as anonymous:
            response = anonymous.post("/oauth/token", data={"grant_type": "client_credentials"},
                                      auth=(account.client_id, account.client_secret))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@contextmanager
def running_portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   **settings: Any) -> Iterator[LivePortal]:
    """A portal on the database ``request.param`` names (sqlite or postgresql), with ``settings`` changed."""
    data_dir = tmp_path_factory.mktemp("portal")
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'portal.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database("portal")
    chosen = Settings(data_dir=data_dir, database_url=url, **settings)
    prepare(chosen, make_kek=True)
    app = create_app(chosen)
    with live_server(app) as base_url:
        yield LivePortal(base_url, chosen, app.state.portal.database)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    with running_portal(request, tmp_path_factory) as portal:
        yield portal


@pytest.fixture(scope="module")
def pec(live_portal: LivePortal) -> Account:
    """A consumer: PEC, the juice shop."""
    return live_portal.register("PEC")


@pytest.fixture(scope="module")
def omis(live_portal: LivePortal) -> Account:
    """A provider: OMIS, the bottling line."""
    return live_portal.register("OMIS")


@pytest.fixture
def add_member(portal: Any) -> Callable[[str, str, str], None]:
    """For the browser tests: ``add_member(admin_email, member_email, password)`` adds an org member."""

    def add(admin_email: str, member_email: str, password: str) -> None:
        database = Database(portal.settings.resolved_database_url)
        try:
            with database.session() as db:
                admin = users.find_user(db, admin_email)
                users.add_member(db, users.actor_for_user(db, admin), email=member_email, password=password)
        finally:
            database.dispose()

    return add

