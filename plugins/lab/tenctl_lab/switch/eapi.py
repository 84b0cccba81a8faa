"""The lab switch's eAPI (aiohttp): JSON-RPC 2.0 ``runCmds`` at ``POST /command-api`` over HTTPS, with HTTP
basic authentication, as pyeapi (and so napalm's ``eos`` driver) speaks it.

A request's answer is ``{"jsonrpc": "2.0", "id": ..., "result": [one answer per command]}``; when a command
fails, ``{"jsonrpc": "2.0", "id": ..., "error": {"code", "message": "CLI command N of M 'CMD' failed:
REASON", "data": [the answers before it, then {"errors": [...]} (text format: with "output")]}}``, as EOS
answers (the shapes of Arista's eapi-py test fixtures). A wrong user or password gets 401.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl

from aiohttp import web

from ..passwords import masked
from .cli import EapiCli
from .device import EosSwitch


def _rpc_error(request_id, code: int, message: str, data: list | None = None) -> web.Response:
    error: dict = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = {"jsonrpc": "2.0", "id": request_id, "error": error}
    return web.Response(text=json.dumps(body), content_type="application/json")


class EapiServer:
    def __init__(self, switch: EosSwitch, certfile: str, keyfile: str | None):
        self.switch = switch
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def start(self, host: str, port: int = 0) -> int:
        self.host = host
        app = web.Application()
        app.router.add_post("/command-api", self._command_api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._open(port)
        return self.port

    async def _open(self, port: int) -> None:
        self._site = web.TCPSite(self._runner, self.host, port, ssl_context=self.context, reuse_address=True)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]

    async def set_reachable(self, reachable: bool) -> None:
        if reachable and self._site is None and self._runner is not None:
            await self._open(self.port)
        elif not reachable and self._site is not None:
            await self._site.stop()
            self._site = None

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    # ------------------------------------------------------------------ requests
    def _authenticated(self, request: web.Request) -> str | None:
        """The user of a valid basic authorization header, else None."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if self.switch.accepts_login(user, password):
            return user
        return None

    async def _command_api(self, request: web.Request) -> web.StreamResponse:
        switch = self.switch
        user = self._authenticated(request)
        if user is None:
            switch.log("eapi", status=401, outcome="refused", error="authentication failed")
            # Modelled on EOS's answer to bad credentials (pyeapi reads only the status).
            return web.Response(
                status=401,
                text="Unable to authenticate user: Bad username/password combination",
                headers={"WWW-Authenticate": 'Basic realm="eAPI"'},
            )
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            switch.log("eapi", status=200, outcome="failed", error="parse error")
            return _rpc_error(None, -32700, "Parse error: the request is not JSON")
        problem = _check_request(body)
        request_id = body.get("id") if isinstance(body, dict) else None
        if problem:
            switch.log("eapi", status=200, outcome="failed", error=problem[1])
            return _rpc_error(request_id, *problem)
        params = body["params"]
        commands = list(params["cmds"])
        fmt = params.get("format", "json")
        # Never log the enable secret (the only input a command carries here).
        logged = [masked(str(c.get("cmd") if isinstance(c, dict) else c)) for c in commands]

        fault, hold = switch.next_request()
        if hold:
            await switch.hold(hold)
        if switch.faults.delay:
            await asyncio.sleep(switch.faults.delay)
        if fault == "refuse":
            message = switch.faults.refuse_message or "Internal error"
            switch.log("eapi", cmds=logged, format=fmt, status=500, outcome="refused", error=message)
            body_out = {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32603, "message": message}}
            return web.Response(status=500, text=json.dumps(body_out), content_type="application/json")
        if fault == "drop":
            switch.log("eapi", cmds=logged, format=fmt, status=0, outcome="dropped")
            return self._drop(request)

        with switch.lock:
            results, failure = EapiCli(switch, fmt).run(commands)
        if fault == "lose":
            switch.log("eapi", cmds=logged, format=fmt, status=0, outcome="lost", failed=failure is not None)
            return self._drop(request)
        if failure is None:
            switch.log("eapi", cmds=logged, format=fmt, status=200, outcome="ok")
            return web.Response(
                text=json.dumps({"jsonrpc": "2.0", "id": request_id, "result": results}),
                content_type="application/json",
            )
        error = failure.error
        failed = {"errors": error.errors}
        if fmt == "text":
            failed = {"output": "".join(f"% {line}\n" for line in error.errors), "errors": error.errors}
        message = (
            f"CLI command {failure.index + 1} of {len(commands)} '{failure.command}' failed: {error.reason}"
        )
        switch.log(
            "eapi", cmds=logged, format=fmt, status=200, outcome="failed", error=message, errors=error.errors
        )
        return _rpc_error(request_id, error.code, message, [*results, failed])

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Close the connection without an answer."""
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("the lab switch dropped the connection on purpose")


def _check_request(body) -> tuple[int, str] | None:
    """The JSON-RPC error for a malformed runCmds request (wording modelled on EOS), or None."""
    if not isinstance(body, dict):
        return -32600, "Invalid request: expected a JSON object"
    if "jsonrpc" not in body:
        return -32600, "Expected field 'jsonrpc' not specified"
    if body["jsonrpc"] != "2.0":
        return -32600, "Invalid jsonrpc version"
    if body.get("method") != "runCmds":
        return -32601, f"Unknown method: {body.get('method')!r}"
    params = body.get("params")
    if not isinstance(params, dict):
        return -32602, "Expected field 'params' not specified"
    if "cmds" not in params:
        return -32602, "Expected field 'cmds' not specified"
    cmds = params["cmds"]
    if not isinstance(cmds, list) or not all(
        isinstance(c, str) or (isinstance(c, dict) and isinstance(c.get("cmd"), str)) for c in cmds
    ):
        return -32602, 'Field \'cmds\' must be a list of commands or {"cmd", "input"} objects'
    if params.get("format", "json") not in ("json", "text"):
        return -32602, f"Invalid format: {params.get('format')!r} (json or text)"
    if params.get("version", 1) not in (1, "latest"):
        return -32602, f"Unsupported version: {params.get('version')!r}"
    return None
