"""Stateful SDN for the lab's Proxmox: zones, VNets, subnets, pending/apply, rollback and the lock.

PVE keeps two copies of the SDN configuration: the one writes go to (the
"pending" one, zones.cfg, vnets.cfg, subnets.cfg) and the running one that
`PUT /cluster/sdn` produces. The lock (`POST /cluster/sdn/lock`) hands out a
token that every write, apply, rollback and unlock must show while it is held;
it never expires. The rules PVE applies inside its config lock come back as
HTTP 500 with "<what failed>: <why>".
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import os
import secrets
import time
import uuid
from pathlib import Path

from fakepve.model import PveError
from fakepve.routing import StatefulRoutes, die, split_list

from .pvecommon import ROOT, is_true

KINDS = ("zones", "vnets", "subnets")

# Options each zone type takes, and which of them it needs (PVE's zone plugins).
_COMMON = {"nodes", "mtu", "dns", "reversedns", "dnszone", "ipam"}
ZONE_OPTIONS = {
    "simple": (_COMMON | {"dhcp"}, set()),
    "vlan": (_COMMON | {"bridge", "bridge-disable-mac-learning"}, {"bridge"}),
    "qinq": (_COMMON | {"bridge", "tag", "vlan-protocol"}, {"bridge", "tag"}),
    "vxlan": (_COMMON | {"peers", "vxlan-port", "fabric"}, set()),
    "evpn": (
        _COMMON
        | {
            "controller",
            "vrf-vxlan",
            "mac",
            "exitnodes",
            "exitnodes-primary",
            "exitnodes-local-routing",
            "advertise-subnets",
            "disable-arp-nd-suppression",
            "rt-import",
            "vxlan-port",
        },
        {"controller", "vrf-vxlan"},
    ),
    "faucet": (_COMMON | {"dp-id"}, set()),
}
VNET_OPTIONS = {"zone", "tag", "alias", "vlanaware", "isolate-ports"}
SUBNET_OPTIONS = {"gateway", "snat", "dnszoneprefix", "dhcp-range", "dhcp-dns-server"}
# Parameters that are not stored in the object.
_CONTROL = {"lock-token", "digest", "delete", "type", "zone", "vnet", "subnet", "pending", "running"}
# What Subnets.pm asks of the caller on /sdn/zones/<zone>/<vnet> (one of them).
SUBNET_AUDIT = ("SDN.Audit", "SDN.Allocate")
SUBNET_ALLOCATE = ("SDN.Allocate",)


def digest_of(obj: dict) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode(), usedforsecurity=False).hexdigest()


def _empty() -> dict:
    return {kind: {} for kind in KINDS}


def uuid7() -> str:
    """A UUIDv7 as PVE makes its SDN lock tokens (pve-network: generate_lock_token): the creation time in
    milliseconds in the top 48 bits, then version, variant and random bits."""
    millis = int(time.time() * 1000)
    value = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
    return str(uuid.UUID(int=value))


class LabSdn(StatefulRoutes):
    """Mixin of FakePve: /cluster/sdn zones, vnets, subnets, apply, rollback and lock."""

    def _init_sdn(self) -> None:
        # What writes change (PVE's *.cfg) and what the last apply made live (.running-config).
        self.sdn_config: dict = _empty()
        self.sdn_running: dict = _empty()
        self.sdn_version = 0
        # {'token', 'created' (epoch seconds), 'user'} while the SDN lock is held, else None.
        self._sdn_lock: dict | None = None
        # PVE keeps the token in /etc/pve/sdn/.lock; with a path set here the lab mirrors it there, so a
        # client on a simulated node can see since when the lock is held (the file's mtime).
        self.sdn_lock_file: Path | None = None

    @property
    def sdn_lock(self) -> dict | None:
        return self._sdn_lock

    @sdn_lock.setter
    def sdn_lock(self, value: dict | None) -> None:
        self._sdn_lock = value
        if self.sdn_lock_file is None:
            return
        if value is None:
            self.sdn_lock_file.unlink(missing_ok=True)
            return
        self.sdn_lock_file.parent.mkdir(parents=True, exist_ok=True)
        self.sdn_lock_file.write_text(str(value["token"]), encoding="utf-8")
        created = float(value.get("created", time.time()))
        os.utime(self.sdn_lock_file, (created, created))

    # --------------------------------------------------------------- routes

    def _routes_lab_sdn(self):
        zone = "/cluster/sdn/zones/{zone}"
        vnet = "/cluster/sdn/vnets/{vnet}"
        subnet = vnet + "/subnets/{subnet}"
        return [
            ("GET", "/cluster/sdn", self._sdn_index),
            ("PUT", "/cluster/sdn", self._sdn_apply),
            ("POST", "/cluster/sdn/rollback", self._sdn_rollback),
            ("POST", "/cluster/sdn/lock", self._sdn_lock_take),
            ("DELETE", "/cluster/sdn/lock", self._sdn_lock_release),
            ("GET", "/cluster/sdn/zones", self._sdn_zone_index),
            ("POST", "/cluster/sdn/zones", self._sdn_zone_create),
            ("GET", zone, self._sdn_zone_read),
            ("PUT", zone, self._sdn_zone_update),
            ("DELETE", zone, self._sdn_zone_delete),
            ("GET", "/cluster/sdn/vnets", self._sdn_vnet_index),
            ("POST", "/cluster/sdn/vnets", self._sdn_vnet_create),
            ("GET", vnet, self._sdn_vnet_read),
            ("PUT", vnet, self._sdn_vnet_update),
            ("DELETE", vnet, self._sdn_vnet_delete),
            ("GET", vnet + "/subnets", self._sdn_subnet_index),
            ("POST", vnet + "/subnets", self._sdn_subnet_create),
            ("GET", subnet, self._sdn_subnet_read),
            ("PUT", subnet, self._sdn_subnet_update),
            ("DELETE", subnet, self._sdn_subnet_delete),
        ]

    # ----------------------------------------------------------------- lock

    def sdn_pending(self) -> bool:
        """True if the configuration differs from the running one (an apply is due)."""
        return self.sdn_config != self.sdn_running

    def sdn_lock_age(self) -> float | None:
        """Seconds the SDN lock has been held, or None when it is free (PVE itself shows no age)."""
        return None if self.sdn_lock is None else time.time() - self.sdn_lock["created"]

    def _check_lock_token(self, v, fail: str = "") -> None:
        # pve-network, PVE::Network::SDN::lock_sdn_config: the token is checked only while a lock is
        # held; with no lock any token (or none) is accepted.
        given = v.get("lock-token")
        held = self.sdn_lock["token"] if self.sdn_lock else None
        if held is None:
            return
        if given is None or not secrets.compare_digest(str(given), held):
            raise die(fail + "invalid lock token provided!")

    async def _sdn_lock_take(self, v, user):
        if self.sdn_lock is not None:
            raise die("could not acquire SDN lock: invalid lock token provided!")
        if self.sdn_pending() and not is_true(v.get("allow-pending", 0)):
            raise die("could not acquire SDN lock: configuration has pending changes")
        self.sdn_lock = {"token": uuid7(), "created": time.time(), "user": user}
        self.state_changed()
        return self.sdn_lock["token"]

    async def _sdn_lock_release(self, v, user):
        if self.sdn_lock is None:
            return None
        if not is_true(v.get("force", 0)):
            self._check_lock_token(v, "could not release SDN lock: ")
        self.sdn_lock = None
        self.state_changed()
        return None

    def _release_if_asked(self, v) -> None:
        # PVE documents release-lock as defaulting to 1 but applies no default: only an explicit 1 releases.
        if is_true(v.get("release-lock", 0)):
            self.sdn_lock = None

    async def _sdn_index(self, v, user):
        from fakepve import schema as pve_schema

        return [{"id": child} for child in pve_schema.load().children("/cluster/sdn")]

    async def _sdn_apply(self, v, user):
        self._check_lock_token(v, "could not apply SDN configuration: ")
        self.sdn_running = copy.deepcopy(self.sdn_config)
        self.sdn_version += 1
        self._release_if_asked(v)
        self.state_changed()
        node = sorted(self.nodes)[0]

        async def reload():
            return None

        return await self.task(node, "reloadnetworkall", "", user, reload)

    async def _sdn_rollback(self, v, user):
        self._check_lock_token(v, "could not rollback SDN configuration: ")
        self.sdn_config = copy.deepcopy(self.sdn_running)
        self._release_if_asked(v)
        self.state_changed()

    # --------------------------------------------------------------- views

    def _objects(self, kind: str, v) -> dict:
        return self.sdn_running[kind] if is_true(v.get("running", 0)) else self.sdn_config[kind]

    def _pending_view(self, kind: str, key: str) -> dict:
        """PVE's pending_config: running values at top level, changed ones under `pending`, and a `state`."""
        running, config = self.sdn_running[kind], self.sdn_config[kind]
        out = {}
        for oid in sorted(set(running) | set(config)):
            old, new = running.get(oid), config.get(oid)
            item = {key: oid}
            if old is None:
                item.update(
                    state="new", type=new.get("type"), pending={k: x for k, x in new.items() if k != "type"}
                )
            elif new is None:
                item.update(old, state="deleted")
            else:
                item.update(old)
                changed = {k: x for k, x in new.items() if old.get(k) != x}
                changed.update((k, "deleted") for k in old if k not in new)
                if changed:
                    item.update(state="changed", pending=changed)
            out[oid] = item
        return out

    def _view(self, kind: str, key: str, oid: str, v) -> dict:
        if is_true(v.get("pending", 0)):
            return self._pending_view(kind, key)[oid]
        obj = self._objects(kind, v)[oid]
        return dict(obj, **{key: oid, "digest": digest_of(obj)})

    def _listing(self, kind: str, key: str, v) -> list[dict]:
        if is_true(v.get("pending", 0)):
            return list(self._pending_view(kind, key).values())
        return [self._view(kind, key, oid, v) for oid in sorted(self._objects(kind, v))]

    def _exists(self, kind: str, oid: str, v) -> bool:
        if is_true(v.get("pending", 0)):
            return oid in self.sdn_config[kind] or oid in self.sdn_running[kind]
        return oid in self._objects(kind, v)

    def _may_see_zone(self, user: str, zone: str | None, vnet: str | None = None) -> bool:
        path = f"/sdn/zones/{zone}" + ("/" + vnet if vnet else "")
        return any(self.allowed(user, path, p) for p in ("SDN.Audit", "SDN.Allocate"))

    def _require_vnet_right(self, user: str, vnet: str, zone: str | None, priv: str = "SDN.Allocate") -> None:
        if user.split("!")[0] == ROOT:
            return
        path = f"/sdn/zones/{zone}/{vnet}" if zone else "/sdn/vnets/" + vnet
        self.require(user, path, priv)

    # ---------------------------------------------------------------- zones

    def _zone_options(self, ztype: str, values: dict, fail: str, creating: bool) -> dict:
        allowed, needed = ZONE_OPTIONS[ztype]
        given = {k: x for k, x in values.items() if k not in _CONTROL and x is not None}
        extra = sorted(set(given) - allowed)
        if extra:
            raise PveError(
                400,
                "Parameter verification failed.",
                dict(
                    (
                        k,
                        "property is not defined in schema and the schema does not allow "
                        "additional properties",
                    )
                    for k in extra
                ),
            )
        if creating:
            missing = sorted(needed - set(given))
            if missing:
                raise PveError(
                    400,
                    "Parameter verification failed.",
                    dict((k, "property is missing and it is not optional") for k in missing),
                )
        return given

    async def _sdn_zone_index(self, v, user):
        out = [z for z in self._listing("zones", "zone", v) if self._may_see_zone(user, z["zone"])]
        if v.get("type"):
            out = [z for z in out if z.get("type") == v["type"]]
        return out

    async def _sdn_zone_read(self, v, user):
        if not self._exists("zones", v["zone"], v):
            raise die("sdn zone '{}' does not exist".format(v["zone"]))
        return self._view("zones", "zone", v["zone"], v)

    async def _sdn_zone_create(self, v, user):
        fail = "create sdn zone object failed: "
        self._check_lock_token(v, fail)
        zone = v["zone"]
        if zone in self.sdn_config["zones"]:
            raise die(fail + f"sdn zone object ID '{zone}' already defined")
        options = self._zone_options(v["type"], v, fail, True)
        self.sdn_config["zones"][zone] = dict(options, type=v["type"])
        self.state_changed()

    async def _sdn_zone_update(self, v, user):
        fail = "update sdn zone object failed: "
        self._check_lock_token(v, fail)
        zone = v["zone"]
        current = self.sdn_config["zones"].get(zone)
        if current is None:
            raise die(fail + f"sdn zone '{zone}' does not exist")
        if v.get("digest") and v["digest"] != digest_of(current):
            raise die(fail + "detected modified configuration - file changed by other user? Try again.")
        updated = dict(current)
        updated.update(self._zone_options(current["type"], v, fail, False))
        for key in split_list(v.get("delete")):
            updated.pop(key, None)
        missing = sorted(ZONE_OPTIONS[current["type"]][1] - set(updated))
        if missing:
            raise PveError(
                400,
                "Parameter verification failed.",
                dict((k, "property is missing and it is not optional") for k in missing),
            )
        self.sdn_config["zones"][zone] = updated
        self.state_changed()

    async def _sdn_zone_delete(self, v, user):
        fail = "delete sdn zone object failed: "
        self._check_lock_token(v, fail)
        zone = v["zone"]
        if zone not in self.sdn_config["zones"]:
            raise die(fail + f"sdn zone '{zone}' does not exist")
        for vnet, obj in sorted(self.sdn_config["vnets"].items()):
            if obj.get("zone") == zone:
                raise die(fail + f"Can't delete zone {zone}, it's used by vnet {vnet}")
        del self.sdn_config["zones"][zone]
        self.state_changed()

    # ---------------------------------------------------------------- vnets

    def _check_vnet(self, vnet: str, obj: dict, fail: str) -> None:
        """The zone plugin's vnet_update_hook: the zone exists and the tag fits it and is free."""
        zone = self.sdn_config["zones"].get(obj.get("zone"))
        if zone is None:
            # What PVE says when the zone's plugin cannot be found.
            raise die(fail + "cannot lookup undefined type!")
        ztype, tag = zone["type"], obj.get("tag")
        if ztype in ("vlan", "qinq"):
            if tag is None:
                raise die(fail + "tag: missing vlan tag")
            if int(tag) > 4096:
                raise die(fail + "tag: vlan tag max value is 4096")
            for other, item in sorted(self.sdn_config["vnets"].items()):
                if other != vnet and item.get("zone") == obj["zone"] and item.get("tag") == tag:
                    raise die(fail + f"tag: tag {tag} already exist in vnet {other}")
        elif ztype in ("vxlan", "evpn"):
            if tag is None:
                raise die(fail + "tag: missing vxlan tag")
            for other, item in sorted(self.sdn_config["vnets"].items()):
                other_zone = self.sdn_config["zones"].get(item.get("zone"), {})
                if other != vnet and other_zone.get("type") in ("vxlan", "evpn") and item.get("tag") == tag:
                    raise die(fail + f"tag: tag {tag} already exist in vnet {other}")
        elif ztype == "simple" and tag is not None:
            raise die(fail + "tag: vlan tag is not allowed on simple zone")

    async def _sdn_vnet_index(self, v, user):
        return [
            item
            for item in self._listing("vnets", "vnet", v)
            if self._may_see_zone(
                user, item.get("zone") or (item.get("pending") or {}).get("zone"), item["vnet"]
            )
        ]

    async def _sdn_vnet_read(self, v, user):
        vnet = v["vnet"]
        if not self._exists("vnets", vnet, v):
            raise die(f"sdn vnet '{vnet}' does not exist")
        zone = (self.sdn_config["vnets"].get(vnet) or self.sdn_running["vnets"].get(vnet) or {}).get("zone")
        if user.split("!")[0] != ROOT and not self._may_see_zone(user, zone, vnet):
            raise PveError(403, f"Permission check failed (/sdn/zones/{zone}/{vnet}, SDN.Audit)")
        return self._view("vnets", "vnet", vnet, v)

    async def _sdn_vnet_create(self, v, user):
        fail = "create sdn vnet object failed: "
        self._check_lock_token(v, fail)
        vnet = v["vnet"]
        if vnet in self.sdn_config["vnets"]:
            raise die(fail + f"sdn vnet object ID '{vnet}' already defined")
        obj = {k: v[k] for k in VNET_OPTIONS if v.get(k) is not None}
        obj["type"] = "vnet"
        self._check_vnet(vnet, obj, fail)
        self.sdn_config["vnets"][vnet] = obj
        self.state_changed()

    async def _sdn_vnet_update(self, v, user):
        fail = "update sdn vnet object failed: "
        vnet = v["vnet"]
        current = self.sdn_config["vnets"].get(vnet)
        self._require_vnet_right(user, vnet, (current or {}).get("zone"))
        self._check_lock_token(v, fail)
        if current is None:
            raise die(fail + f"sdn vnet '{vnet}' does not exist")
        if v.get("digest") and v["digest"] != digest_of(current):
            raise die(fail + "detected modified configuration - file changed by other user? Try again.")
        updated = dict(current)
        updated.update((k, v[k]) for k in VNET_OPTIONS if v.get(k) is not None)
        for key in split_list(v.get("delete")):
            updated.pop(key, None)
        self._check_vnet(vnet, updated, fail)
        self.sdn_config["vnets"][vnet] = updated
        self.state_changed()

    async def _sdn_vnet_delete(self, v, user):
        fail = "delete sdn vnet object failed: "
        vnet = v["vnet"]
        current = self.sdn_config["vnets"].get(vnet)
        self._require_vnet_right(user, vnet, (current or {}).get("zone"))
        self._check_lock_token(v, fail)
        if current is None:
            raise die(fail + f"sdn vnet '{vnet}' does not exist")
        if any(s.get("vnet") == vnet for s in self.sdn_config["subnets"].values()):
            raise die(fail + "vnet: Can't delete vnet if subnets exists")
        del self.sdn_config["vnets"][vnet]
        self.state_changed()

    # -------------------------------------------------------------- subnets

    def _vnet_or_fail(self, vnet: str, fail: str = "") -> dict:
        obj = self.sdn_config["vnets"].get(vnet)
        if obj is None:
            raise die(fail + f"sdn vnet '{vnet}' does not exist")
        return obj

    def _subnet_vnet_access(self, user: str, vnet: str, privs: tuple[str, ...]) -> str:
        """pve-network src/PVE/API2/Network/SDN/Subnets.pm $check_vnet_access, which every subnet method
        calls first: the VNet must exist in the configuration being edited (vnets.cfg; for root@pam too,
        "sdn vnet '<vnet>' does not exist", outside the SDN lock), and the caller needs one of privs on
        /sdn/zones/<its zone>/<vnet>. Returns the zone."""
        zone = self._vnet_or_fail(vnet).get("zone")
        self._check_any(user, f"/sdn/zones/{zone}/{vnet}", list(privs), False)
        return zone

    @staticmethod
    def _subnet_fields(sid: str, obj: dict) -> dict:
        _, address, prefix = sid.rsplit("-", 2)
        network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        return dict(
            obj,
            subnet=sid,
            id=sid,
            cidr=f"{address}/{prefix}",
            network=str(network.network_address),
            mask=int(prefix),
            digest=digest_of(obj),
        )

    def _check_subnet(self, sid: str, obj: dict, fail: str) -> None:
        _, address, prefix = sid.rsplit("-", 2)
        network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        gateway = obj.get("gateway")
        if gateway and ipaddress.ip_address(gateway) not in network:
            raise die(fail + f"gateway: gateway {gateway} is not in subnet {address}/{prefix}")

    async def _sdn_subnet_index(self, v, user):
        vnet = v["vnet"]
        self._subnet_vnet_access(user, vnet, SUBNET_AUDIT)
        if is_true(v.get("pending", 0)):
            items = [
                item
                for item in self._pending_view("subnets", "subnet").values()
                if (item.get("vnet") or (item.get("pending") or {}).get("vnet")) == vnet
            ]
            return items
        objs = self._objects("subnets", v)
        return [self._subnet_fields(sid, obj) for sid, obj in sorted(objs.items()) if obj.get("vnet") == vnet]

    async def _sdn_subnet_read(self, v, user):
        sid = v["subnet"]
        self._subnet_vnet_access(user, v["vnet"], SUBNET_AUDIT)
        if not self._exists("subnets", sid, v):
            raise die(f"sdn subnet '{sid}' does not exist")
        if is_true(v.get("pending", 0)):
            return self._pending_view("subnets", "subnet")[sid]
        return self._subnet_fields(sid, self._objects("subnets", v)[sid])

    async def _sdn_subnet_create(self, v, user):
        fail = "create sdn subnet object failed: "
        vnet = v["vnet"]
        zone = self._subnet_vnet_access(user, vnet, SUBNET_ALLOCATE)
        self._check_lock_token(v, fail)
        cidr = str(v["subnet"])
        address, _, prefix = cidr.partition("/")
        # PVE keeps the address as given, host bits and all, in the id.
        sid = f"{zone}-{address}-{prefix}"
        if sid in self.sdn_config["subnets"]:
            raise die(fail + f"sdn subnet object ID '{sid}' already defined")
        obj = {k: v[k] for k in SUBNET_OPTIONS if v.get(k) is not None}
        obj.update(type="subnet", vnet=vnet)
        self._check_subnet(sid, obj, fail)
        self.sdn_config["subnets"][sid] = obj
        self.state_changed()

    async def _sdn_subnet_update(self, v, user):
        fail = "update sdn subnet object failed: "
        sid = v["subnet"]
        self._subnet_vnet_access(user, v["vnet"], SUBNET_ALLOCATE)
        current = self.sdn_config["subnets"].get(sid)
        self._check_lock_token(v, fail)
        if current is None:
            raise die(fail + f"sdn subnet '{sid}' does not exist")
        if v.get("digest") and v["digest"] != digest_of(current):
            raise die(fail + "detected modified configuration - file changed by other user? Try again.")
        updated = dict(current)
        updated.update((k, v[k]) for k in SUBNET_OPTIONS if v.get(k) is not None)
        for key in split_list(v.get("delete")):
            updated.pop(key, None)
        self._check_subnet(sid, updated, fail)
        self.sdn_config["subnets"][sid] = updated
        self.state_changed()

    async def _sdn_subnet_delete(self, v, user):
        """Subnets.pm delete. A subnet that does not exist is no error (sdn_subnets_config with noerr),
        unless the VNet's zone uses the built-in PVE IPAM: Subnets.pm del_subnet hands the missing subnet to
        src/PVE/Network/SDN/Ipams/PVEPlugin.pm del_subnet, which finds no zone '' in its database."""
        fail = "delete sdn subnet object failed: "
        sid = v["subnet"]
        zone = self._subnet_vnet_access(user, v["vnet"], SUBNET_ALLOCATE)
        self._check_lock_token(v, fail)
        if self.sdn_config["subnets"].pop(sid, None) is not None:
            self.state_changed()
        elif (self.sdn_config["zones"].get(zone) or {}).get("ipam") == "pve":
            raise die(fail + "zone '' doesn't exist in IPAM DB")

    # ---------------------------------------------------------------- state

    def sdn_state(self) -> dict:
        return {
            "config": copy.deepcopy(self.sdn_config),
            "running": copy.deepcopy(self.sdn_running),
            "version": self.sdn_version,
            "lock": copy.deepcopy(self.sdn_lock),
        }

    def load_sdn_state(self, state: dict) -> None:
        self.sdn_config = dict(_empty(), **copy.deepcopy(state.get("config", {})))
        self.sdn_running = dict(_empty(), **copy.deepcopy(state.get("running", {})))
        self.sdn_version = int(state.get("version", 0))
        self.sdn_lock = copy.deepcopy(state.get("lock"))
