"""A model gateway in front of the local llama.cpp server, as production puts one in front of a model.

The ShopDesk app speaks plain OpenAI Chat Completions (what the Agents SDK sends). llama.cpp's
server deviates from that protocol in known ways (it ignores tools unless ``tool_choice`` is set,
drops ``tool`` messages, ...), which the harness's ``llama-cpp`` backend profile works around
(harness/engine/backends.py). This gateway applies exactly that profile to each
``/v1/chat/completions`` body and forwards the request, so an app that knows nothing of
llama.cpp can use it — like the LiteLLM-style proxies teams run in production. Everything else
passes through unchanged. The app's requests, and so the captured traces, stay plain OpenAI.

    python scripts/production/gateway.py --upstream http://127.0.0.1:8411/v1 --port 8500
"""

from __future__ import annotations

import argparse
import json

from aiohttp import ClientSession, ClientTimeout, web

from harness.engine.backends import get_profile

PROFILE = get_profile("llama-cpp")
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


def adapted(path: str, body: bytes) -> bytes:
    """The request body as llama.cpp needs it (chat completions only; anything else as it came)."""
    if not path.endswith("/chat/completions"):
        return body
    return json.dumps(PROFILE.adapt(json.loads(body))).encode()


def make_app(upstream: str) -> web.Application:
    base = upstream.rstrip("/").removesuffix("/v1")

    async def forward(request: web.Request) -> web.Response:
        body = adapted(request.path, await request.read())
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        session: ClientSession = request.app["session"]
        async with session.request(request.method, base + request.path_qs, data=body, headers=headers) as reply:
            content = await reply.read()
            return web.Response(body=content, status=reply.status,
                                content_type=reply.content_type or "application/json")

    async def open_session(app: web.Application) -> None:
        app["session"] = ClientSession(timeout=ClientTimeout(total=600))

    async def close_session(app: web.Application) -> None:
        await app["session"].close()

    app = web.Application(client_max_size=16 * 2**20)
    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="The llama.cpp server's OpenAI base URL.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8500)
    args = parser.parse_args()
    web.run_app(make_app(args.upstream), host=args.host, port=args.port,
                print=lambda *_: print("ready", flush=True))


if __name__ == "__main__":
    main()
