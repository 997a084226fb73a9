"""Request and response bodies of the REST API: camelCase JSON, unknown request fields refused.

What is stored and what is shown are different types: the services return rows and views, these models
shape them for the wire (``…Public``), and request models (``…Body``) say exactly what a client may send.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic.alias_generators import to_camel

from abm_portal.services.lifecycle import SubscriptionState, TransferState
from abm_portal.services.subscriptions import MAX_REASON
from abm_portal.services.transfers import MAX_COUNT

# Text a service strips and then requires: something other than white space.
NOT_BLANK = r"\S"
_RFC_3339 = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _number(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("give a whole number (JSON number), not text or true/false")
    return value


def _text(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, str) and not _RFC_3339.match(value)):
        raise ValueError("give an RFC 3339 date and time with a zone, e.g. 2026-11-22T14:00:00Z")
    return value


def _declared(**rules: Any) -> dict[str, Any]:
    """Rules a service checks with a message that says what to fix: declared in the schema, not enforced by pydantic
    (whose generic message would come first)."""
    return rules


# JSON Schema's integer: 4895 and 4895.0 alike, never "4895" or true. (pydantic alone would take both.)
WholeNumber = Annotated[int, BeforeValidator(_number)]
# A date and time as RFC 3339 text with a zone; pydantic alone would take a number as seconds since 1970.
Moment = Annotated[AwareDatetime, BeforeValidator(_text)]


class RequestBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ResponseBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


# --- organisations and connectors -------------------------------------------------------------------------------

class ConnectorBody(RequestBody):
    endpoint_url: str = Field(json_schema_extra=_declared(
                                  maxLength=2000, pattern=r"^\s*https?://[^\s/?#@:\[\]]+(:[0-9]*)?(/[^?#\s]*)?\s*$"),
                              description="Where the connector listens, e.g. https://connector.omis.example:9443 "
                                          "(no credentials, query or fragment)")
    signing_key: str = Field(description="Ed25519 public key: base64url of the 32 raw bytes, or PEM")
    encryption_key: str = Field(description="X25519 public key: base64url of the 32 raw bytes, or PEM")


class OrganisationPublic(ResponseBody):
    id: str
    name: str
    description: str
    endpoint_url: str | None = Field(description="The connector's endpoint; partners' connectors connect here")
    signing_key: str | None = Field(description="The connector's Ed25519 public key (base64url, raw)")
    encryption_key: str | None = Field(description="The connector's X25519 public key (base64url, raw)")
    client_id: str | None = Field(None, description="Shown to the organisation itself only")


# --- assets -----------------------------------------------------------------------------------------------------

class AssetMetadataBody(RequestBody):
    """Asset-type metadata as ``aas_models.asset_type_metadata`` makes it, plus a visibility; never values."""

    name: str = Field(json_schema_extra=_declared(maxLength=200, pattern=NOT_BLANK))
    description: str = Field("", json_schema_extra=_declared(maxLength=4000))
    asset_type: str = Field(json_schema_extra=_declared(maxLength=64, pattern=r"^\s*[a-z0-9][a-z0-9-]{0,63}\s*$"),
                            description="The asset type's slug, e.g. sales-order-status")
    semantic_ids: list[str] = Field(default_factory=list, description="Submodel semantic ids (IRIs); derived from "
                                                                      "the submodels when left out")
    submodels: list[dict[str, Any]] = Field(default_factory=list, description="AAS v3.0 Submodel templates "
                                                                              "(kind Template)")
    type_shell: dict[str, Any] | None = Field(None, description="The type shell (AAS v3.0, assetKind Type)")
    global_asset_id: str | None = None
    owner: str | None = Field(None, description="The publisher's AAS owner slug, e.g. omis")
    key_field: str | None = Field(None, description="The business field that keys an instance, e.g. orderId")
    versioned: StrictBool | None = None
    visibility: Literal["public", "private"] = Field("public", description="Private assets are listed for the "
                                                                           "publishing organisation only")


class AssetPublicationBody(AssetMetadataBody):
    id: str | None = Field(None, description="A URL-safe asset id of your choice; the portal makes one when left "
                                             "out. (The type shell's IRI belongs in typeShell.id.)")


class AssetPublic(ResponseBody):
    id: str
    org_id: str
    org_name: str
    name: str
    description: str
    asset_type: str
    semantic_ids: list[str]
    submodels: list[dict[str, Any]]
    type_shell: dict[str, Any] | None
    global_asset_id: str | None
    owner: str | None
    key_field: str | None
    versioned: bool | None
    visibility: str
    created_at: datetime
    updated_at: datetime


class AssetList(ResponseBody):
    items: list[AssetPublic]


# --- subscriptions, grants, transfers ---------------------------------------------------------------------------

class SubscriptionBody(RequestBody):
    asset_id: str
    mode: Literal["realtime", "historical"]
    valid_from: Moment = Field(description="RFC 3339 with a time zone, e.g. 2026-11-22T14:00:00Z")
    valid_to: Moment = Field(description="After validFrom; in the past for historical mode, in the future "
                                                "for real-time mode")


class RejectionBody(RequestBody):
    reason: str = Field(json_schema_extra=_declared(maxLength=MAX_REASON, pattern=NOT_BLANK),
                        description="Why the request is rejected; the consumer reads it")


class EndingBody(RequestBody):
    reason: str | None = Field(None, json_schema_extra=_declared(maxLength=MAX_REASON),
                               description="Why the subscription ends (optional)")


class TransferPublic(ResponseBody):
    id: str
    subscription_id: str
    state: TransferState
    expected_count: int | None
    provider_count: int | None
    provider_digest: str | None
    consumer_count: int | None
    consumer_digest: str | None
    reason: str | None
    created_at: datetime
    updated_at: datetime


class SideProgress(ResponseBody):
    count: int = Field(description="provider: deliveries sent; consumer: instances stored")
    last_seq: int = Field(description="The highest delivery sequence number sent (provider) or stored (consumer)")
    expired: int = Field(description="Deliveries that passed their TTL unstored (provider; 0 for the consumer)")
    reported_at: datetime = Field(description="When these figures arrived")


class ProgressPublic(ResponseBody):
    """A real-time subscription's progress: each side's latest cumulative report."""

    provider: SideProgress | None = Field(description="What the provider's connector sent; null until it reports")
    consumer: SideProgress | None = Field(description="What the consumer's connector stored; null until it reports")
    reconciled: bool = Field(description="Both reported, their lastSeq are equal and the provider's count is the "
                                         "consumer's count plus the provider's expired")


class SubscriptionPublic(ResponseBody):
    id: str
    asset_id: str
    asset_name: str
    asset_type: str
    provider_org_id: str
    provider_name: str
    consumer_org_id: str
    consumer_name: str
    mode: str
    state: SubscriptionState
    valid_from: datetime
    valid_to: datetime
    requested_by: str
    decided_by: str | None
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    updated_at: datetime
    transfer: TransferPublic | None = Field(None, description="The newest transfer job (historical mode)")
    progress: ProgressPublic | None = Field(None, description="The connectors' reports (real-time mode); null for "
                                                              "historical subscriptions")


class SubscriptionList(ResponseBody):
    items: list[SubscriptionPublic]


class GrantPublic(ResponseBody):
    grant: str = Field(description="The grant JWT (typ grant+jwt, ES256); verify it against /.well-known/jwks.json")
    subscription_id: str
    not_before: datetime
    expires_at: datetime


class GrantVerificationBody(RequestBody):
    grant: str


class GrantCheckPublic(ResponseBody):
    valid: bool
    subscription_id: str
    state: str
    reason: str | None = Field(description="Why the grant is refused; null when it is valid")
    expires_at: datetime | None


class TransferReportBody(RequestBody):
    side: Literal["provider", "consumer"] = Field(description="provider: what was sent; consumer: what was stored")
    count: WholeNumber = Field(ge=0, le=MAX_COUNT, description="How many instances")
    digest: str = Field(min_length=1, max_length=200, json_schema_extra=_declared(pattern=NOT_BLANK),
                        description="The digest over those instances")


class ProgressReportBody(RequestBody):
    side: Literal["provider", "consumer"] = Field(description="provider: what was sent; consumer: what was stored")
    count: WholeNumber = Field(ge=0, le=MAX_COUNT, description="Deliveries sent (provider) or instances stored "
                                                              "(consumer), cumulative")
    last_seq: WholeNumber = Field(ge=0, le=MAX_COUNT, description="The highest delivery sequence number sent or "
                                                                 "stored")
    expired: WholeNumber = Field(0, ge=0, le=MAX_COUNT, description="Deliveries that passed their TTL unstored "
                                                                   "(provider); 0 or left out for the consumer")


# --- revocations, audit -----------------------------------------------------------------------------------------

class RevocationPublic(ResponseBody):
    seq: int
    at: datetime
    subscription_id: str
    state: SubscriptionState = Field(description="What ended the grant: revoked, cancelled, expired or completed")
    reason: str | None


class RevocationFeed(ResponseBody):
    items: list[RevocationPublic]
    next: int = Field(description="Pass as ?since= next time")


class AuditEntryPublic(ResponseBody):
    id: int
    at: datetime
    actor: str
    org_id: str | None
    partner_org_id: str | None
    action: str
    subject: str
    before: str | None
    after: str | None
    detail: dict[str, Any] | None


class AuditLog(ResponseBody):
    items: list[AuditEntryPublic]


class Health(ResponseBody):
    status: str
