"""The socket.io side of a Python peer: opening the socket the way a
non-browser should, and turning a failed connect into one sentence.

python-socketio's AsyncClient opens its websocket with aiohttp, which sends
no ``Origin`` header unless asked: servers that list only browser origins
accept it, as they accept any non-browser client. ``origin=`` sends one on
purpose (to test a server's policy, or for a server that demands one).
"""

import asyncio
import json
import logging
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

import aiohttp
import socketio

from .errors import ConnectError, IceError

logger = logging.getLogger("rtcio_flask.peer")

ASK_ICE = "ask-ice"


def socket_client(reconnect: bool) -> socketio.AsyncClient:
    """An AsyncClient that leaves SIGINT to the program (the command
    handles it) and gives up reconnecting after a bounded number of tries."""
    return socketio.AsyncClient(
        reconnection=reconnect, reconnection_attempts=10,
        reconnection_delay=0.5, reconnection_delay_max=5,
        handle_sigint=False)


def handshake_headers(origin: Optional[str],
                      headers: Optional[Dict[str, str]]) -> Dict[str, str]:
    out = dict(headers or {})
    if origin is not None:
        out["Origin"] = origin
    return out


async def explain_connect_failure(url: str, path: str,
                                  headers: Dict[str, str],
                                  refusal: Optional[str],
                                  timeout: float = 5.0) -> ConnectError:
    """Why ``connect`` failed, in one line.

    python-socketio reports every failure as "Connection error"; an
    operator needs to know whether nothing listens, the server refused the
    origin (its JSON body says which setting to change), or the app's
    connect hook refused the socket.
    """
    if refusal is not None:
        return ConnectError(f"the server refused the connection: {refusal}")
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout)
        writer.close()
    except (OSError, asyncio.TimeoutError) as exc:
        why = "timed out" if isinstance(exc, asyncio.TimeoutError) \
            else (exc.strerror or str(exc))
        return ConnectError(f"cannot reach the signaling server at {url}: "
                            f"{why}")
    probe = (f"{parts.scheme}://{parts.netloc}/{path.strip('/')}/"
             f"?EIO=4&transport=polling")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(probe, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout)
                                ) as response:
                status, body = response.status, await response.text()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return ConnectError(f"no socket.io server answered at {url}: "
                            f"{exc!r}")
    if status == 200:
        return ConnectError(f"the socket.io handshake with {url} failed "
                            f"although the server answers")
    try:
        detail = json.loads(body).get("message") or body
    except (ValueError, AttributeError):
        detail = body
    detail = " ".join(str(detail).split())[:300]
    return ConnectError(f"the server refused the connection (HTTP {status})"
                        + (f": {detail}" if detail else ""))


async def ask_ice(sio: socketio.AsyncClient,
                  timeout: float = 10.0) -> List[Dict[str, Any]]:
    """ICE servers (with TURN credentials) from the server's ``ask-ice``."""
    try:
        answer = await sio.call(ASK_ICE, None, timeout=timeout)
    except socketio.exceptions.TimeoutError:
        raise IceError("the server did not answer ask-ice") from None
    if not isinstance(answer, dict) or not isinstance(
            answer.get("iceServers"), list):
        reason = answer.get("reason") if isinstance(answer, dict) else None
        raise IceError("ask-ice gave no ICE servers"
                       + (f": {reason}" if reason else ""))
    return list(answer["iceServers"])
