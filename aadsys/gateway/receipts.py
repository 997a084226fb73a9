"""What the business API answers about a stored instance: where it lives, without echoing its content."""

from __future__ import annotations

from typing import Any

from aadsys.core.instances import InstanceHead, StoredInstance
from aadsys.gateway.part2.identifiers import encode_id


def self_url(instance: InstanceHead, *, revision: bool = False) -> str:
    """The instance in the business API; with ``revision``, this revision of it."""
    query = {"provider": instance.origin or None, "revision": instance.revision if revision else None}
    params = "&".join(f"{name}={value}" for name, value in query.items() if value)
    return f"/api/v1/asset-types/{instance.asset_type}/instances/{instance.key}" + (f"?{params}" if params else "")


def receipt(instance: StoredInstance) -> dict[str, Any]:
    """What a client gets back on create: where the instance lives, without echoing its content."""
    return {**instance.head(), "links": {"self": self_url(instance),
                                         "aas": f"/api/v3.0/shells/{encode_id(instance.shell_id)}"}}
