"""The lab router's HTTPS API (aiohttp), shaped like VyOS's (vyos-1x src/services/api/rest/routers.py).

Every endpoint takes POST form fields ``key`` and ``data`` (JSON) and answers
``{"success": bool, "data": ..., "error": str | null}`` (as text/html, with the error text HTML-escaped,
as VyOS does). ``/configure`` applies one op or a list of ops to a fresh session and commits them
together; a refused op discards them all (400 with VyOS's text).
"""

from __future__ import annotations

import asyncio
import html
import json
import ssl

from aiohttp import web

from ..passwords import masked
from . import tree as cfgtree
from .router import SAVE_PATH, VERSION_TEXT, CommitFailed, VyosRouter
from .tree import EditError


def _answer(status: int, data=None, error: str | None = None) -> web.Response:
    body = {"success": status == 200, "data": data if status == 200 else None, "error": None}
    if status != 200:
        body["error"] = html.escape(error or "", quote=False)
    return web.Response(status=status, text=json.dumps(body), content_type="text/html")


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ApiServer:
    def __init__(self, router: VyosRouter, certfile: str, keyfile: str | None):
        self.router = router
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def start(self, host: str, port: int = 0) -> int:
        self.host = host
        app = web.Application()
        app.router.add_post("/configure", self._configure)
        app.router.add_post("/retrieve", self._retrieve)
        app.router.add_post("/config-file", self._config_file)
        app.router.add_post("/show", self._show)
        app.router.add_get("/info", self._info)
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

    # ------------------------------------------------------------------ request plumbing
    async def _commands(self, request: web.Request, endpoint: str) -> list[dict]:
        """The ops of a request after VyOS's checks of the form (key, data, op, path)."""
        form = await request.post()
        if not self.router.accepts_api_key(str(form.get("key") or "")):
            raise _Refused(401, "Valid API key is required")
        if "data" not in form:
            raise _Refused(422, "Non-empty data field is required")
        try:
            data = json.loads(form["data"])
        except json.JSONDecodeError as exc:
            raise _Refused(400, f"Failed to parse JSON: {exc}") from None
        commands = data if isinstance(data, list) else [data]
        for c in commands:
            if not isinstance(c, dict):
                raise _Refused(400, f"Malformed command '{c}': any command must be JSON of dict")
            if "op" not in c:
                raise _Refused(400, f"Malformed command '{c}': missing 'op' field")
            if endpoint in ("/config-file",):
                continue
            if "path" not in c:
                raise _Refused(400, f"Malformed command '{c}': missing 'path' field")
            if not isinstance(c["path"], list) or not all(isinstance(p, str) for p in c["path"]):
                raise _Refused(400, f"Malformed command '{c}': 'path' field must be a list of strings")
            if endpoint == "/configure" and not c["path"]:
                raise _Refused(400, f"Malformed command '{c}': 'path' list must be non-empty")
            if "value" in c and not isinstance(c["value"], str):
                raise _Refused(400, f"Malformed command '{c}': 'value' field must be a string")
        return commands

    async def _serve(self, request: web.Request, endpoint: str, work) -> web.Response:
        router = self.router
        described: list[str] = []
        try:
            commands = await self._commands(request, endpoint)
            described = [
                masked(" ".join([c.get("op", "?"), *c.get("path", []), *([c["value"]] if c.get("value") else [])]))
                for c in commands
            ]
            fault, hold = router.next_request(endpoint, ssh=False)
            if hold:
                await router.hold(hold)
            if router.faults.delay:
                await asyncio.sleep(router.faults.delay)
            if fault in ("refuse", "drop"):
                raise _Refused(500, f"the lab router refused this request on purpose ({endpoint})")
            data = work(commands)
            if fault == "lose":
                router.log("api", endpoint=endpoint, ops=described, status=0, outcome="dropped after applying")
                if request.transport is not None:
                    request.transport.abort()
                raise ConnectionResetError("the lab dropped the answer on purpose")
        except _Refused as exc:
            router.log("api", endpoint=endpoint, ops=described, status=exc.status, outcome="failed")
            return _answer(exc.status, error=exc.message)
        router.log("api", endpoint=endpoint, ops=described, status=200, outcome="ok")
        return _answer(200, data)

    # ------------------------------------------------------------------ endpoints
    async def _configure(self, request):
        return await self._serve(request, "/configure", self._apply)

    def _apply(self, commands: list[dict]):
        session = self.router.session()
        for c in commands:
            path = list(c["path"]) + ([c["value"]] if c.get("value") else [])
            try:
                if c["op"] == "set":
                    session.set(path)
                elif c["op"] == "delete":
                    session.delete(path)
                else:
                    raise _Refused(400, f"'{c['op']}' is not a valid operation")
            except EditError as exc:
                raise _Refused(400, "\n".join(exc.lines) + "\n") from None
        if not session.changed():
            return None
        try:
            lines = session.commit()
        except CommitFailed as exc:
            raise _Refused(400, "\n".join(exc.lines) + "\n") from None
        return "\n".join(lines) or None

    async def _retrieve(self, request):
        return await self._serve(request, "/retrieve", self._read)

    def _read(self, commands: list[dict]):
        c = commands[0]
        op, path = c["op"], c["path"]
        running = self.router.running_copy()
        found, node = cfgtree.lookup(running, path)
        if op == "exists":
            return found
        if op == "returnValue":
            if not found:
                return None
            if isinstance(node, list):
                raise _Refused(400, f"Cannot use return_value on multi node: {' '.join(path)}")
            if not isinstance(node, str):
                raise _Refused(400, f"Specified path is not a leaf node: {' '.join(path)}")
            return node
        if op == "returnValues":
            if not found:
                return []
            if not isinstance(node, list):
                raise _Refused(400, f"Cannot use return_values on non-multi node: {' '.join(path)}")
            return list(node)
        if op == "showConfig":
            if not found or (isinstance(node, dict) and not node and path):
                raise _Refused(400, "Configuration under specified path is empty")
            if isinstance(node, dict):
                return cfgtree.to_json(node)
            return {path[-1]: cfgtree.to_json(node)}
        raise _Refused(400, f"'{op}' is not a valid operation")

    async def _config_file(self, request):
        return await self._serve(request, "/config-file", self._file)

    def _file(self, commands: list[dict]):
        c = commands[0]
        if c["op"] == "save":
            if c.get("file") not in (None, SAVE_PATH):
                raise _Refused(400, f"The lab router saves to {SAVE_PATH} only")
            return "\n".join(self.router.save()) + "\n"
        if c["op"] == "load":
            if not c.get("file"):
                raise _Refused(400, 'Missing required field "file"')
            if c["file"] != SAVE_PATH:
                raise _Refused(400, f"Failed to load file {c['file']}: the lab router has {SAVE_PATH} only")
            self.router.load_saved()
            return None
        raise _Refused(400, f"'{c['op']}' is not a valid operation")

    async def _show(self, request):
        return await self._serve(request, "/show", self._show_op)

    def _show_op(self, commands: list[dict]):
        c = commands[0]
        if c["op"] != "show":
            raise _Refused(400, f"'{c['op']}' is not a valid operation")
        if c["path"] == ["version"]:
            return VERSION_TEXT + "\n"
        if c["path"] == ["configuration", "commands"]:
            return "\n".join(self.router.running_commands()) + "\n"
        if c["path"] == ["configuration"]:
            return "\n".join(cfgtree.to_curly(self.router.running_copy())) + "\n"
        raise _Refused(400, f"Invalid command: show [{' '.join(c['path'])}]")

    async def _info(self, request):
        self.router.log("api", endpoint="/info", ops=[], status=200, outcome="ok")
        return _answer(
            200, {"version": "1.4.0", "hostname": self.router.hostname, "banner": "Welcome to VyOS"}
        )
