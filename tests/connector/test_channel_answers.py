"""The provider's Socket.IO namespace answers every event, even when a handler fails unexpectedly: the consumer
gets a refusal it retries after, instead of waiting out its call timeout (a real PostgreSQL race once did that)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from connector.codes import Code
from connector.data._socketio import ProviderNamespace


class _Failing(ProviderNamespace):
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        raise RuntimeError("the database went away")

    async def on_subscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        raise RuntimeError("duplicate key value violates unique constraint")


def test_a_failing_event_handler_answers_with_an_internal_refusal(caplog: pytest.LogCaptureFixture) -> None:
    answer = asyncio.run(_Failing(plane=None).trigger_event("subscribe", "sid-1", {}))  # type: ignore[arg-type]

    assert answer["ok"] is False and answer["code"] == Code.INTERNAL and "'subscribe'" in answer["reason"]
    assert "handling 'subscribe' failed" in caplog.text and "duplicate key" in caplog.text


def test_a_failing_connect_is_refused_with_a_reason() -> None:
    with pytest.raises(socketio.exceptions.ConnectionRefusedError) as refused:
        asyncio.run(_Failing(plane=None).trigger_event("connect", "sid-1", {}, None))  # type: ignore[arg-type]

    assert refused.value.error_args["data"] == {"code": Code.INTERNAL, "reason": refused.value.error_args["message"]}
