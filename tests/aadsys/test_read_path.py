"""The read path serves stored bytes and caches API keys (issue 10); neither may ever serve something stale."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import orjson

from aadsys.config import Settings
from aas_models import business_json
from aas_models.serialization import value_only
from tests.aadsys.conftest import Gateway, order

BASE = "/api/v1/asset-types/sales-order/instances"
STATUS = "/api/v1/asset-types/sales-order-status/instances"


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def test_a_key_revoked_through_the_cli_fails_on_the_very_next_request(gateway: Gateway, settings: Settings) -> None:
    """The key is cached by the running server first; the CLI revokes it from another process."""
    with gateway.client("read") as reader:
        for _ in range(3):
            assert reader.get(BASE).status_code == 200
            assert reader.get("/api/v3.0/shells").status_code == 200
        env = {**os.environ, "AADSYS_DATABASE_URL": settings.resolved_database_url, "AADSYS_ORG": settings.org,
               "AADSYS_BASE_IRI": settings.base_iri}
        done = subprocess.run([sys.executable, "-m", "aadsys", "keys", "revoke", "--name", "reporting",
                               "--data-dir", str(settings.data_dir)], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert reader.get(BASE).status_code == 401
        assert reader.get("/api/v3.0/shells").status_code == 401
    with gateway.client("write") as writer:  # the other key is untouched
        assert writer.get(BASE).status_code == 200


def test_a_key_made_through_the_cli_works_on_the_very_next_request(gateway: Gateway, settings: Settings) -> None:
    with gateway.client("read") as reader:
        assert reader.get(BASE).status_code == 200
    env = {**os.environ, "AADSYS_DATABASE_URL": settings.resolved_database_url, "AADSYS_ORG": settings.org,
           "AADSYS_BASE_IRI": settings.base_iri}
    done = subprocess.run([sys.executable, "-m", "aadsys", "keys", "create", "--name", "dashboard", "--scope", "read",
                           "--data-dir", str(settings.data_dir)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with gateway.client(done.stdout.strip().splitlines()[-1]) as dashboard:
        assert dashboard.get(BASE).status_code == 200


def test_a_new_instance_and_a_new_revision_are_visible_to_the_next_read(gateway: Gateway) -> None:
    with gateway.client("write") as api:
        assert api.get("/api/v3.0/shells").status_code == 200  # the type level is loaded and kept
        created = api.post(BASE, json=order("SO-4242")).json()
        shell = api.get(created["links"]["aas"])
        assert shell.status_code == 200 and shell.json()["id"].endswith("/sales-order/SO-4242")
        stored = api.get(f"{BASE}/SO-4242", params={"format": "aas"}).content
        submodel_id = orjson.loads(stored)["submodels"][0]["id"]
        submodel = api.get(f"/api/v3.0/submodels/{_b64(submodel_id)}")
        assert submodel.json() == orjson.loads(stored)["submodels"][0]
        assert api.get(f"{BASE}/SO-4242").json() == business_json("sales-order", stored)
        assert [i["key"] for i in api.get(BASE).json()["items"]] == ["SO-4242"]
        shells = api.get("/api/v3.0/shells", params={"limit": 1000}).json()["result"]
        assert shell.json() in shells

        status = {"orderId": "SO-4242", "status": "received", "trace": [], "updatedAt": "2026-11-22T10:16:00Z"}
        assert api.post(STATUS, json=status).status_code == 201
        status_sm = _b64("https://pec.example/ids/sm/sales-order-status/SO-4242/SalesOrderStatus")
        value = f"/api/v3.0/submodels/{status_sm}/$value"
        assert api.get(value).json()["status"] == "received"
        assert api.post(STATUS, json={**status, "status": "scheduled"}).status_code == 201
        assert api.get(value).json()["status"] == "scheduled"
        latest = api.get(f"{STATUS}/SO-4242", params={"format": "aas"}).content
        assert api.get(value).json() == value_only(orjson.loads(latest)["submodels"][0])
        assert api.get(f"/api/v3.0/submodels/{status_sm}").json() == orjson.loads(latest)["submodels"][0]
        assert api.get(f"{STATUS}/SO-4242").json()["status"] == "scheduled"


def test_modifiers_that_change_the_bytes_are_still_applied(gateway: Gateway) -> None:
    """Stored bytes answer only the default modifiers; level=core and $value of a template still work."""
    with gateway.client("write") as api:
        api.post(BASE, json=order("SO-4243"))
        stored = orjson.loads(api.get(f"{BASE}/SO-4243", params={"format": "aas"}).content)["submodels"][0]
        url = f"/api/v3.0/submodels/{_b64(stored['id'])}"
        core = api.get(url, params={"level": "core"}).json()
        collections = [e for e in core["submodelElements"] if e["modelType"] == "SubmodelElementList"]
        assert collections and all("value" not in e for e in collections)
        assert api.get(f"{url}/$value", params={"level": "core"}).json() == value_only(
            stored, *_modifiers("core"))
        templates = api.get("/api/v3.0/submodels", params={"limit": 3}).json()["result"]
        for template in templates:
            answer = api.get(f"/api/v3.0/submodels/{_b64(template['id'])}/$value")
            assert answer.status_code == 200 and answer.json() == value_only(template)


def _modifiers(level: str) -> tuple:
    from aas_models.serialization import Extent, Level

    return Level(level), Extent.withoutBlobValue
