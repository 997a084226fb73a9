"""Publishing asset-type metadata (never values), and finding it in the catalog."""

from __future__ import annotations

import copy
import uuid

from abm_portal.services.actors import ORG_MEMBER
from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import assert_problem, metadata, publish


def test_a_connector_publishes_aas_models_metadata_as_is(live_portal: LivePortal, omis: Account) -> None:
    body = metadata(assetType=f"sales-order-status-{uuid.uuid4().hex[:8]}")
    with live_portal.client(live_portal.connector_token(omis)) as connector:
        r = connector.post("/api/v1/assets", json=body)
        assert r.status_code == 201, r.text
        asset = r.json()
        assert r.headers["location"] == f"/api/v1/assets/{asset['id']}"
        assert connector.get(r.headers["location"]).json() == asset
    assert asset["orgId"] == omis.org_id and asset["orgName"] == omis.name
    assert asset["semanticIds"] == ["https://omis.example/ids/sm/SalesOrderStatus/1/0"]
    assert asset["submodels"] == body["submodels"] and asset["typeShell"] == body["typeShell"]
    assert asset["globalAssetId"] == "urn:omis:sales-order-status" and asset["keyField"] == "orderId"


def test_search_needs_every_term_in_name_description_type_or_publisher(live_portal: LivePortal, pec: Account,
                                                                       omis: Account) -> None:
    with live_portal.client(omis.admin_token) as provider:
        asset = publish(provider, description="Production progress, station by station")
    run = asset["assetType"].rsplit("-", 1)[1]
    with live_portal.client(pec.admin_token) as consumer:
        def found(q: str) -> list[str]:
            return [a["id"] for a in consumer.get("/api/v1/assets", params={"q": q}).json()["items"]]

        assert found(f"ORDER status {run}") == [asset["id"]]
        assert found(f"{run} station") == [asset["id"]]
        assert found(f"{run} {omis.name.split()[1]}") == [asset["id"]]
        assert found(f"{run} juice") == []
        by_org = consumer.get("/api/v1/assets", params={"org": omis.org_id}).json()["items"]
        assert asset["id"] in [a["id"] for a in by_org] and {a["orgId"] for a in by_org} == {omis.org_id}


def test_private_assets_are_seen_by_their_own_organisation_only(live_portal: LivePortal, pec: Account,
                                                                omis: Account) -> None:
    with live_portal.client(omis.admin_token) as provider:
        private = publish(provider, visibility="private")
        assert provider.get(f"/api/v1/assets/{private['id']}").status_code == 200
    with live_portal.client(pec.admin_token) as other:
        assert_problem(other.get(f"/api/v1/assets/{private['id']}"), 404)
        assert other.get("/api/v1/assets", params={"q": private["name"]}).json()["items"] == []
        assert_problem(other.put(f"/api/v1/assets/{private['id']}", json=metadata()), 404)


def test_the_publisher_updates_and_unpublishes_and_nobody_else_may(live_portal: LivePortal, pec: Account,
                                                                   omis: Account) -> None:
    with live_portal.client(omis.admin_token) as provider:
        asset = publish(provider)
    changed = metadata(assetType=asset["assetType"], name="Sales Order Status v2", visibility="private")
    with live_portal.client(pec.admin_token) as other:
        assert_problem(other.put(f"/api/v1/assets/{asset['id']}", json=changed), 403, says=omis.name)
        assert_problem(other.delete(f"/api/v1/assets/{asset['id']}"), 403)
    with live_portal.client(omis.admin_token) as provider:
        r = provider.put(f"/api/v1/assets/{asset['id']}", json=changed)
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["visibility"]) == ("Sales Order Status v2", "private")
        assert r.json()["createdAt"] == asset["createdAt"] and r.json()["updatedAt"] > asset["updatedAt"]
        assert provider.delete(f"/api/v1/assets/{asset['id']}").status_code == 204
        assert_problem(provider.get(f"/api/v1/assets/{asset['id']}"), 404)
        assert provider.get("/api/v1/assets", params={"q": "Sales Order Status v2"}).json()["items"] == []
        again = provider.post("/api/v1/assets", json=changed)  # the type is free again
        assert again.status_code == 201, again.text


def test_one_live_asset_per_type_and_chosen_ids_are_unique(live_portal: LivePortal, omis: Account) -> None:
    with live_portal.client(omis.admin_token) as provider:
        asset = publish(provider)
        twice = provider.post("/api/v1/assets", json=metadata(assetType=asset["assetType"]))
        assert_problem(twice, 409, field="assetType", says=asset["id"])
        chosen = f"omis-status-{uuid.uuid4().hex[:6]}"
        first = provider.post("/api/v1/assets", json={**metadata(assetType=f"t-{uuid.uuid4().hex[:8]}"),
                                                      "id": chosen})
        assert first.status_code == 201 and first.json()["id"] == chosen
        taken = provider.post("/api/v1/assets", json={**metadata(assetType=f"t-{uuid.uuid4().hex[:8]}"),
                                                      "id": chosen})
        assert_problem(taken, 409, field="id")
        iri = provider.post("/api/v1/assets", json={**metadata(), "id": "https://omis.example/ids/aas/type/x"})
        assert_problem(iri, 422, field="id", says="typeShell.id")


def test_values_and_broken_metadata_are_refused(live_portal: LivePortal, omis: Account) -> None:
    good = metadata(assetType=f"t-{uuid.uuid4().hex[:8]}")
    with_values = copy.deepcopy(good)
    with_values["submodels"][0]["kind"] = "Instance"
    instance_shell = copy.deepcopy(good)
    instance_shell["typeShell"]["assetInformation"]["assetKind"] = "Instance"
    broken = copy.deepcopy(good)
    broken["submodels"][0]["id"] = ""
    with live_portal.client(omis.admin_token) as provider:
        assert_problem(provider.post("/api/v1/assets", json=with_values), 422, field="submodels[0].kind",
                       says="never values")
        assert_problem(provider.post("/api/v1/assets", json=instance_shell), 422,
                       field="typeShell.assetInformation.assetKind")
        assert_problem(provider.post("/api/v1/assets", json=broken), 422, field="submodels", says="metamodel")
        assert_problem(provider.post("/api/v1/assets", json={**good, "assetType": "Sales Order"}), 422,
                       field="assetType", says="slug")
        assert_problem(provider.post("/api/v1/assets", json={**good, "semanticIds": ["no iri"]}), 422,
                       field="semanticIds")
        assert_problem(provider.post("/api/v1/assets", json={**good, "visibility": "secret"}), 422,
                       field="visibility")


def test_members_may_not_publish(live_portal: LivePortal, omis: Account) -> None:
    member = live_portal.add_person(omis, ORG_MEMBER)
    with live_portal.client(member) as api:
        assert_problem(api.post("/api/v1/assets", json=metadata()), 403, says="publish")
        assert api.get("/api/v1/assets").status_code == 200
