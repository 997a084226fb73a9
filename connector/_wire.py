"""The channel protocol (DESIGN §5) as typed messages: one pydantic model per Socket.IO event.

Consumer → provider (namespace ``/channel``):

- connect, auth ``ChannelAuth``: the grant, a fresh nonce from ``POST /connector/v1/challenges`` and the
  consumer's Ed25519 proof over both;
- ``subscribe`` ``SubscribeRequest`` (real-time): replay what the consumer has not stored, then go live;
- ``history`` ``HistoryRequest`` (historical): every instance created in [from, to];
- ``stored`` ``StoredNotice``: tier 2, the consumer committed these seqs (duplicates included);
- ``resend`` ``ResendRequest``: send these seqs again now, with fresh links (a download failed its check);
- ``grant`` ``GrantRefresh``: a fresh grant, before the one presented at connect expires.

Provider → consumer:

- ``instance`` ``InstanceMessage``: one record, sealed inline or behind a one-time link; the Socket.IO ack
  of this event is tier 1 (``Ack``);
- ``history_complete`` ``HistoryComplete``: all of the range is stored; the consumer answers with its figures;
- ``closing`` ``Closing``: why the provider is about to close the channel (revoked, window over, grant expired).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

NAMESPACE = "/channel"
SOCKETIO_PATH = "connector/socket.io"
CHALLENGE_ROUTE = "/connector/v1/challenges"
LINK_ROUTE = "/connector/v1/links"
PROOF_CHANNEL = "channel"
PROOF_LINK = "link"


# Socket.IO's JSON encoder knows no datetimes; bytes stay bytes (binary attachments).
WireTime = Annotated[AwareDatetime, PlainSerializer(datetime.isoformat, return_type=str)]


class Message(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class ChannelAuth(Message):
    grant: str = Field(max_length=16_384)
    nonce: str = Field(max_length=128)
    proof: str = Field(max_length=256, description="Ed25519 signature of ('channel', nonce, sha256(grant))")


class SubscribeRequest(Message):
    subscription_id: str = Field(max_length=64)
    after_seq: int = Field(0, ge=0, description="the highest seq the consumer has stored")


class HistoryRequest(Message):
    subscription_id: str = Field(max_length=64)
    from_: WireTime = Field(alias="from")
    to: WireTime
    after_seq: int = Field(0, ge=0)


class StoredNotice(Message):
    subscription_id: str = Field(max_length=64)
    seqs: list[int] = Field(max_length=10_000)


class ResendRequest(Message):
    subscription_id: str = Field(max_length=64)
    seqs: list[int] = Field(max_length=10_000)
    reason: str = Field(max_length=500)


class GrantRefresh(Message):
    grant: str = Field(max_length=16_384)


class LinkRef(Message):
    token: str = Field(max_length=128)
    size: int = Field(ge=0)


class FileRef(Message):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    token: str = Field(max_length=128)


class InstanceMessage(Message):
    """``header`` is signed JSON text (see ``_sealing``); the record travels as ``ciphertext`` or ``link``."""

    subscription_id: str = Field(max_length=64)
    seq: int = Field(ge=1)
    header: str = Field(max_length=65_536)
    signature: bytes = Field(max_length=64)
    ciphertext: bytes | None = None
    link: LinkRef | None = None
    files: list[FileRef] = Field(default_factory=list, max_length=1000)


class HistoryComplete(Message):
    subscription_id: str = Field(max_length=64)
    count: int = Field(ge=0)
    digest: str = Field(max_length=200)


class Closing(Message):
    subscription_id: str = Field(max_length=64)
    code: str = Field(max_length=64)
    reason: str = Field(max_length=500)


class Ack(Message):
    ok: bool
    code: str | None = None
    reason: str | None = None
    total: int | None = None


def refused(code: str, reason: str) -> dict[str, Any]:
    return Ack(ok=False, code=code, reason=reason).wire()


OK: dict[str, Any] = Ack(ok=True).wire()
