"""`/v3/gate/rpc?token=…`: the WebSocket JSON-RPC gate (notifications.md §8, docs/gate.md)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from marketbox.gate import rpc
from marketbox.gate.hub import Hub
from marketbox.web.context import get_context

log = logging.getLogger(__name__)
router = APIRouter()


@router.websocket("/v3/gate/rpc")
async def gate(websocket: WebSocket) -> None:
    ctx = get_context(websocket)  # type: ignore[arg-type]
    hub: Hub | None = getattr(websocket.app.state, "gate", None)
    token = websocket.query_params.get("token")
    merchant = None
    if token:
        found, merchant = await ctx.tokens.cached_merchant(token)
        if not found:
            async with ctx.db.read() as conn:
                merchant = await ctx.tokens.merchant_for_token(conn, token)
    # Authenticated on upgrade; a refusal is a close with 4401 (notifications.md §8), which a
    # browser's WebSocket can read, where an HTTP 403 on the handshake would be opaque.
    await websocket.accept()
    if merchant is None:
        await websocket.close(code=rpc.CLOSE_UNAUTHORIZED, reason="unauthorized")
        return
    if hub is None:
        await websocket.close(code=1013, reason="gate not running")
        return
    remote = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "-"

    known_token = token or ""  # a merchant was found, so there was a token

    async def still_allowed() -> bool:
        """Checked every 30 s (hub.py): a rotated token's connection is closed with 4401."""
        async with ctx.db.read() as conn:
            return await ctx.tokens.merchant_for_token(conn, known_token) is not None

    client = await hub.join(merchant.id, websocket, remote, still_allowed)
    try:
        while True:
            await hub.receive(client, await websocket.receive_text())
    except WebSocketDisconnect:
        pass
    finally:
        await hub.leave(client)
