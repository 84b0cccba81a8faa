"""LabPve: fakepve's Proxmox with stateful access control and SDN, faults by request number, a request log
and a state file.

    pve = LabPve(user="root@pam", password=pw, host="127.0.0.1", port=0,
                 request_log=Path("logs/pve-requests.jsonl"), state_file=Path("state.json"))
    await pve.start(certfile, keyfile)

Fault injection counts requests from the moment it is asked: ``pve.fail_nth(2)`` fails the second request
after the call. Password logins (``POST /access/ticket``) are not counted, so a test's numbers do not depend
on whether its client logs in with a password or a token; ``requests_seen()`` counts every request.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

from aiohttp import web
from fakepve.model import FakeVm
from fakepve.server import FakePve

from .access import LabAccess
from .guestnet import LabGuestNet
from .hookscripts import LabHookscripts
from .sdn import LabSdn
from .tfa import LabTfa

STATE_VERSION = 1
LOGIN_PATHS = ("/api2/json/access/ticket", "/api2/extjs/access/ticket")


def write_private(path: Path, text: str) -> None:
    """Write text to path atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class LabPve(LabTfa, LabAccess, LabGuestNet, LabHookscripts, LabSdn, FakePve):
    """A FakePve whose users, groups, roles, ACL, tokens, second factors, realms and SDN keep what they are
    sent, whose guests' network devices need SDN.Use on their bridges, and whose guests run their
    hookscripts."""

    def __init__(
        self,
        user="root@pam",
        password="secret",  # noqa: S107 - fakepve's default login for tests
        host=None,
        port=0,
        request_log: Path | None = None,
        state_file: Path | None = None,
    ):
        super().__init__(user=user, password=password, host=host, port=port)
        self._init_access()
        self._init_tfa()
        self._init_sdn()
        self.request_log = Path(request_log) if request_log else None
        # When set, the state is written there after every change (and by save()).
        self.state_file = Path(state_file) if state_file else None
        self._seen = 0
        self._counted = 0
        # request number (counted, see the module doc) -> ('fail', status, message), ('drop',), ('lose',)
        # or ('hold', seconds)
        self._planned_faults: dict[int, tuple] = {}
        # [(method, path, fault)]: the first request matching method and path (exact, or a prefix ending
        # in '*') gets the fault; each entry is used once
        self._matched_faults: list[tuple[str, str, tuple]] = []
        self._log_lock = threading.Lock()
        # How many requests hold_nth()/fault_on(..., "hold") keep waiting right now.
        self.holding = 0
        # Bumped by release_holds(): a held request waits until its time is up or this changes.
        self._holds_released = 0
        # The size of each simulated node: hosting-sized, so that capacity checks leave room for many
        # tenants (fakepve's own nodes have 4 cores and 8 GiB). Tests and benchmarks may change them.
        self.node_cores = 128
        self.node_memory = 1024**4
        # And of each storage on each node (fakepve's are 100 GiB).
        self.storage_size = 64 * 1024**4

    def _node_stats(self, online):
        stats = FakePve._node_stats(online)
        if online:
            stats.update(maxcpu=self.node_cores, maxmem=self.node_memory)
        return stats

    def _storage_resource(self, node, name):
        item = super()._storage_resource(node, name)
        if item is not None:
            item["maxdisk"] = self.storage_size
        return item

    # ------------------------------------------------------------- faults

    def requests_seen(self) -> int:
        """Requests served since start, logins included."""
        return self._seen

    def fail_nth(self, k: int, status: int = 500, message: str = "fault injected by the lab") -> None:
        """Answer the k-th request from now (logins not counted) with this status and message."""
        if k < 1:
            raise ValueError("k counts from 1")
        self._planned_faults[self._counted + k] = ("fail", status, message)

    def drop_nth(self, k: int) -> None:
        """Reset the connection of the k-th request from now (logins not counted) without an answer."""
        if k < 1:
            raise ValueError("k counts from 1")
        self._planned_faults[self._counted + k] = ("drop",)

    def lose_nth(self, k: int) -> None:
        """Apply the k-th request from now (logins not counted), then reset its connection unanswered.

        The client cannot tell whether the change happened: the fault a lost answer, a timeout after the
        server acted, or a killed proxy leave in the real world.
        """
        if k < 1:
            raise ValueError("k counts from 1")
        self._planned_faults[self._counted + k] = ("lose",)

    def hold_nth(self, k: int, seconds: float) -> None:
        """Hold the k-th request from now for `seconds` before it reaches its handler."""
        if k < 1:
            raise ValueError("k counts from 1")
        self._planned_faults[self._counted + k] = ("hold", float(seconds))

    def release_holds(self) -> None:
        """Let every request held right now go on at once (a test holds one for long, then releases it when
        the client reached the state it waits for)."""
        self._holds_released += 1

    def fault_on(
        self,
        method: str,
        path: str,
        fault: str = "lose",
        seconds: float = 0.0,
        status: int = 500,
        message: str = "fault injected by the lab",
    ) -> None:
        """Give the first request matching method and path (``/api2/json`` left out; a trailing '*' makes it
        a prefix) the fault ``lose``, ``drop``, ``hold`` (for `seconds`), ``fail`` (with `status`) or
        ``skip`` (answered as done but not applied: what a client sees when someone undoes its change at once,
        or a proxy answers for the server). A ``fail`` answers with `message`, e.g. the refusal Proxmox gives
        when another client took the object first."""
        planned = {
            "skip": ("skip",),
            "lose": ("lose",),
            "drop": ("drop",),
            "hold": ("hold", float(seconds)),
            "fail": ("fail", status, message),
        }[fault]
        self._matched_faults.append((method.upper(), path, planned))

    def _matched_fault(self, request) -> tuple | None:
        path = request.path.removeprefix("/api2/json")
        for index, (method, pattern, fault) in enumerate(self._matched_faults):
            hit = path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern
            if method == request.method and hit:
                del self._matched_faults[index]
                return fault
        return None

    def clear_faults(self) -> None:
        """Forget the faults planned with fail_nth(), drop_nth(), lose_nth(), hold_nth() and fault_on()."""
        self._planned_faults.clear()
        self._matched_faults.clear()

    # ----------------------------------------------------------- serving

    def _build_app(self):
        app = super()._build_app()
        # Outermost: it sees every request, answers planned faults, and logs the final status.
        app.middlewares.insert(0, self._lab_middleware)
        return app

    @web.middleware
    async def _lab_middleware(self, request, handler):
        self._seen += 1
        fault = None
        if not (request.method == "POST" and request.path in LOGIN_PATHS):
            self._counted += 1
            fault = self._planned_faults.pop(self._counted, None) or self._matched_fault(request)
        if fault and fault[0] == "hold":
            self.holding += 1
            released, deadline = self._holds_released, time.monotonic() + fault[1]
            try:
                while self._holds_released == released and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
            finally:
                self.holding -= 1
            fault = None
        if fault and fault[0] == "skip":
            self._log_request(request, 200)
            return web.json_response({"data": None})
        if fault and fault[0] == "lose":
            try:
                response = await handler(request)
                status = response.status
            except web.HTTPException as exc:
                status = exc.status
            self._log_request(request, status, lost=True)
            request.transport.close()
            raise ConnectionResetError("tenctl-lab: answer lost on purpose after the request was served")
        if fault and fault[0] == "drop":
            self._log_request(request, None)
            request.transport.close()
            raise ConnectionResetError("tenctl-lab: connection dropped on purpose")
        if fault:
            self._log_request(request, fault[1])
            return web.json_response(
                {"data": None, "message": fault[2] + "\n"},
                status=fault[1],
                reason=fault[2].splitlines()[0][:200],
            )
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self._log_request(request, exc.status)
            raise
        except BaseException:
            self._log_request(request, 500)
            raise
        self._log_request(request, response.status)
        return response

    def _log_request(self, request, status, lost: bool = False) -> None:
        if self.request_log is None:
            return
        line = {
            "time": round(time.time(), 6),
            "method": request.method,
            "path": request.path,
            "status": status,
        }
        if status is None:
            line["dropped"] = True
        if lost:
            line["answer_lost"] = True
        with self._log_lock:
            self.request_log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.request_log, "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")

    # -------------------------------------------------------------- state

    def state(self) -> dict:
        """Everything `lab down` / `lab up` must keep, as JSON-ready data (secrets too)."""
        guests = [
            {
                "vmid": vm.vmid,
                "name": vm.name,
                "node": vm.node,
                "status": vm.status,
                "config": vm.config,
                "template": bool(vm.template),
            }
            for vm in self.vms
        ]
        pools = {
            name: {
                "vmids": sorted(ids),
                "comment": self.pool_info.get(name, {}).get("comment"),
                "storage": sorted(self.pool_info.get(name, {}).get("storage", ())),
            }
            for name, ids in self.pools.items()
        }
        return {
            "version": STATE_VERSION,
            "access": self.access_state(),
            "tfa": self.tfa_state(),
            "sdn": self.sdn_state(),
            "pools": pools,
            "guests": guests,
            "nodes": sorted(self.nodes),
        }

    def load_state(self, state: dict) -> None:
        """Restore what state() returned (guests in the state replace those already defined)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError("unknown lab state version {!r}".format(state.get("version")))
        for node in state.get("nodes", ()):
            self.nodes.setdefault(node, {"online": True})
        if "guests" in state:
            self.vms = []
            for g in state["guests"]:
                vm = FakeVm(
                    g["vmid"],
                    g["name"],
                    node=g["node"],
                    status=g["status"],
                    config=g["config"],
                    template=g.get("template", False),
                )
                self.vms.append(vm)
        self.pools, self.pool_info = {}, {}
        for name, meta in state.get("pools", {}).items():
            self.pools[name] = set(meta.get("vmids", ()))
            self.pool_info[name] = {"comment": meta.get("comment"), "storage": set(meta.get("storage", ()))}
        self._sync_pools()
        self.load_access_state(state.get("access", {}))
        self.load_tfa_state(state.get("tfa", {}))
        self.load_sdn_state(state.get("sdn", {}))

    def save(self, path: Path | None = None) -> Path:
        """Write the state to path (default: state_file) with mode 0600; returns the path."""
        path = Path(path or self.state_file)
        write_private(path, json.dumps(self.state(), indent=1, sort_keys=True))
        return path

    def load(self, path: Path | None = None) -> None:
        path = Path(path or self.state_file)
        self.load_state(json.loads(path.read_text(encoding="utf-8")))

    def state_changed(self) -> None:
        if self.state_file is not None:
            self.save()

    async def _answer(self, request, handler, generic, path_node):
        response = await super()._answer(request, handler, generic, path_node)
        # Pools and guests live in fakepve's own areas: save after any successful write.
        if self.state_file is not None and request.method != "GET" and getattr(response, "status", 500) < 400:
            self.save()
        return response


async def settle() -> None:
    """Let tasks spawned by a request run (useful with time_scale > 0)."""
    for _ in range(3):
        await asyncio.sleep(0)
