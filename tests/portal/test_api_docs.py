"""The REST API describes itself (OpenAPI at /docs) and answers unknown paths with problems, not pages."""

from __future__ import annotations

from tests.portal.conftest import LivePortal
from tests.portal.flows import assert_problem

ENDPOINTS = {("post", "/oauth/token"), ("get", "/.well-known/jwks.json"), ("put", "/api/v1/connector"),
             ("get", "/api/v1/organisations/{org_id}"), ("post", "/api/v1/assets"),
             ("put", "/api/v1/assets/{asset_id}"), ("delete", "/api/v1/assets/{asset_id}"), ("get", "/api/v1/assets"),
             ("get", "/api/v1/assets/{asset_id}"), ("post", "/api/v1/subscriptions"),
             ("post", "/api/v1/subscriptions/{subscription_id}/approve"),
             ("post", "/api/v1/subscriptions/{subscription_id}/reject"),
             ("post", "/api/v1/subscriptions/{subscription_id}/revoke"),
             ("post", "/api/v1/subscriptions/{subscription_id}/cancel"), ("get", "/api/v1/subscriptions"),
             ("get", "/api/v1/subscriptions/{subscription_id}"),
             ("get", "/api/v1/subscriptions/{subscription_id}/grant"),
             ("post", "/api/v1/subscriptions/{subscription_id}/verify"),
             ("post", "/api/v1/subscriptions/{subscription_id}/progress"), ("get", "/api/v1/revocations"),
             ("get", "/api/v1/revocations/stream"),
             ("post", "/api/v1/transfers/{transfer_id}/reports"), ("get", "/api/v1/transfers/{transfer_id}"),
             ("get", "/api/v1/audit"), ("get", "/healthz"), ("get", "/readyz")}


def test_every_endpoint_is_documented_with_a_tag_and_a_summary(live_portal: LivePortal) -> None:
    with live_portal.client() as anonymous:
        assert anonymous.get("/docs").status_code == 200
        spec = anonymous.get("/openapi.json").json()
    operations = {(method, path): op for path, item in spec["paths"].items() for method, op in item.items()}
    assert operations.keys() >= ENDPOINTS
    assert not [key for key in ENDPOINTS if not (operations[key].get("tags") and operations[key].get("summary"))]
    assert all(not path.startswith(("/catalog", "/login", "/approvals")) for path in spec["paths"])  # pages hidden
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    stream = operations[("get", "/api/v1/revocations/stream")]
    assert "text/event-stream" in stream["responses"]["200"]["content"] and "429" in stream["responses"]
    assert {p["name"] for p in stream["parameters"]} >= {"since", "last-event-id"}


def test_unknown_api_paths_and_methods_are_problems(live_portal: LivePortal) -> None:
    with live_portal.client() as anonymous:
        assert_problem(anonymous.get("/api/v1/nothing-here"), 404, says="/docs")
        assert_problem(anonymous.patch("/healthz"), 405, says="PATCH")
        assert anonymous.get("/healthz").json() == {"status": "ok"}


def test_unknown_pages_get_the_html_404_page_and_api_paths_keep_problems(live_portal: LivePortal) -> None:
    with live_portal.client() as anonymous:
        for path in ("/no/such/page", "/subscriptions/does-not-exist-page"):
            page = anonymous.get(path)
            assert page.status_code == 404, path
            assert page.headers["content-type"].startswith("text/html"), page.headers["content-type"]
            assert "<h1" in page.text and "Page not found" in page.text and 'href="/"' in page.text
            assert path in page.text and page.headers["x-frame-options"] == "DENY"
        assert_problem(anonymous.get("/api/v1/no/such/thing"), 404, says="/docs")
        assert_problem(anonymous.get("/oauth/nothing"), 404, says="/docs")
        assert_problem(anonymous.get("/.well-known/nothing"), 404, says="/docs")
