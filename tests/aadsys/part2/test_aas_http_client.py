"""A real AAS client from PyPI, ``aas-http-client``, finds a shell through the registry and reads on where the
descriptor points: the list of descriptors, one descriptor's AAS-3.0 endpoint to the shell, a submodel's $value."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.aadsys.part2.conftest import Directory


@pytest.fixture(scope="module")
def aas_http_client() -> Iterator[ModuleType]:
    """The package asks PyPI for a newer release of itself on import; here that request meets a closed loopback
    port and fails at once (the package logs it and goes on), so the test reaches nothing beyond this machine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")
        import aas_http_client

        yield aas_http_client


def test_aas_http_client_lists_descriptors_follows_an_endpoint_and_reads_a_value(
        aas_http_client: ModuleType, directory: Directory) -> None:
    client = aas_http_client.AasHttpClient(BaseUrl=f"{directory.url}/api/v3.0", TrustEnv=False)
    client.initialize()
    client.get_session().headers["X-API-Key"] = directory.gateway.read_key  # its auth knows no API keys
    assert client.get_root() is not None  # its connection check

    listed = client.shell_registry.get_all_asset_administration_shell_descriptors(limit=100)
    assert listed is not None, "the client could not list the shell descriptors"
    descriptor = next(d for d in listed["result"] if d["id"] == directory.own_order.shell_id)
    (endpoint,) = [e for e in descriptor["endpoints"] if e["interface"] == "AAS-3.0"]
    shell = client.get_endpoint(endpoint["protocolInformation"]["href"])
    assert shell is not None and shell["id"] == descriptor["id"]
    assert shell["assetInformation"]["globalAssetId"] == descriptor["globalAssetId"]

    (submodel,) = descriptor["submodelDescriptors"]
    value = client.submodels.get_submodel_by_id_value_only(
        aas_http_client.encoder.encode_base_64(submodel["id"]))
    assert value is not None and value["orderId"] == "SO-1001" and value["total"] == 25.8
    assert client.shell_registry.get_self_description()["profiles"][2].endswith(
        "AssetAdministrationShellRegistryServiceSpecification/SSP-002")
