"""SDN.Use on the bridges of guest network devices, for VMs and containers.

pve-guest-common's src/PVE/GuestHelpers.pm `check_vnet_access` decides whether a user may put a network
device on a bridge: the bridge's zone is the VNet's zone when the bridge is an SDN VNet (in the SDN
configuration being edited, vnets.cfg), else `localnetwork`; a VLAN tag needs SDN.Use on
/sdn/zones/<zone>/<bridge>/<tag>, each tag of `trunks` likewise, and a device with neither needs it on
/sdn/zones/<zone>/<bridge>. An entry on the bridge's path reaches its tags (ACL entries propagate).

Where it is called, from qemu-server: src/PVE/QemuServer.pm check_bridge_access, for every netN of
 - VM create (src/PVE/API2/Qemu.pm create_vm, the new values),
 - config change, PUT and POST .../config (update_vm_api: the new values before the change; inside it,
   the current value of a netN being replaced or deleted),
 - clone (clone_vm: the source's config or snapshot);
and from pve-container: src/PVE/LXC.pm check_ct_modify_config_perm (container create and config change,
the old and the new value of each netN) and clone (src/PVE/API2/LXC.pm). fakepve's containers call
`_check_bridge` at those places; its VMs check no bridge at all.

root@pam is never checked. PVE checks the bridges after the guest's own privileges; here they are
checked before fakepve's handlers run, behind VM.Config.Network for the devices changed, so a caller
lacking other privileges as well may see the SDN refusal first (a 403 either way).
"""

from __future__ import annotations

import re

from fakepve.routing import split_list

from .permissions import refusal
from .pvecommon import ROOT

NET_KEY = re.compile(r"net\d+")


def net_options(value) -> dict[str, str]:
    """The key=value options of a netN property string ('virtio=..,bridge=vmbr0,tag=5')."""
    options = {}
    for part in str(value).split(","):
        key, eq, val = part.partition("=")
        if eq:
            options[key] = val
    return options


def trunk_tags(trunks: str) -> list[str]:
    """GuestHelpers.pm get_tags_from_trunk: the VLAN ids of 'a;b-c' (a range only when c > b), in Perl's
    string order."""
    tags = set()
    for trunk in str(trunks).split(";"):
        start, _, end = trunk.partition("-")
        if end and int(end) > int(start):
            tags.update(str(tag) for tag in range(int(start), int(end) + 1))
        else:
            tags.add(start)
    return sorted(tags)


class LabGuestNet:
    """Mixin of FakePve: the VNet-zone-aware SDN.Use check on guest NICs."""

    def check_vnet_access(self, user: str, bridge: str, tag=None, trunks=None) -> None:
        """GuestHelpers.pm check_vnet_access: PVE's 403 unless user may use the bridge (and its VLANs)."""
        zone = (self.sdn_config["vnets"].get(bridge) or {}).get("zone") or "localnetwork"
        base = f"/sdn/zones/{zone}/{bridge}"
        if tag:
            self.require(user, f"{base}/{tag}", "SDN.Use")
        if trunks:
            for each in trunk_tags(trunks):
                self.require(user, f"{base}/{each}", "SDN.Use")
        if not (tag or trunks):
            self.require(user, base, "SDN.Use")

    def check_bridge_access(self, user: str, config: dict) -> None:
        """QemuServer.pm check_bridge_access: every netN of a config that names a bridge."""
        if user == ROOT:
            return
        for key in sorted(config):
            if NET_KEY.fullmatch(key) and config[key]:
                self._check_bridge(user, config[key])

    def _check_bridge(self, user, net):
        """One network device (fakepve's containers call this; LXC.pm check_bridge_access)."""
        if user == ROOT:
            return
        options = net_options(net)
        if options.get("bridge"):
            self.check_vnet_access(user, options["bridge"], options.get("tag"), options.get("trunks"))

    def _net_gate(self, user: str, vmid, pool, keys) -> None:
        """VM.Config.Network, which PVE checks for a netN before its bridge (check_vm_modify_config_perm)."""
        if user != ROOT and any(NET_KEY.fullmatch(key) for key in keys):
            self._qm_perm(user, vmid, pool, "VM.Config.Network")

    # ------------------------------------------------------------------- VMs

    async def _qm_create(self, v, user):
        """create_vm: the pool exists, VM.Allocate (on the VM or its pool) and VM.Config.Network come
        before the bridges, as in Qemu.pm."""
        vmid, pool = v["vmid"], v.get("pool")
        self._qm_check_pool(pool)
        if user != ROOT and not (
            self.allowed(user, f"/vms/{vmid}", "VM.Allocate")
            or (pool and self.allowed(user, "/pool/" + pool, "VM.Allocate"))
        ):
            raise refusal()
        self._net_gate(user, vmid, pool, v)
        self.check_bridge_access(user, v)
        return await super()._qm_create(v, user)

    async def _qm_clone(self, v, user):
        """clone_vm: the bridges of the source's devices (VM.Clone and VM.Allocate for the new guest are
        the schema's rule, checked before), once the pool is known to exist."""
        self._qm_check_pool(v.get("pool"))
        source = self.vm(int(v["vmid"]))
        if source is not None and source.node == v["node"]:
            config = source.snapshots.get(v["snapname"]) if v.get("snapname") else source.config
            self.check_bridge_access(user, config or {})
        return await super()._qm_clone(v, user)

    async def _config_put(self, request):
        await self._check_new_bridges(request)
        return await super()._config_put(request)

    async def _config_post(self, request):
        await self._check_new_bridges(request)
        return await super()._config_post(request)

    async def _check_new_bridges(self, request) -> None:
        """update_vm_api, before the change: the bridges of the netN values sent."""
        from fakepve.server import USER, params  # late: fakepve.server imports the areas

        values = self._verify(request, await params(request))
        user = request[USER]
        self._net_gate(user, values["vmid"], None, list(values) + split_list(values.get("delete")))
        self.check_bridge_access(user, values)

    async def _apply_config(self, vm, user, p):
        """update_vm_api, inside the change: the current value of each netN deleted or replaced (unless
        the new value is already the pending one). PVE checks them one option at a time and writes the
        options handled before a refusal; here a refusal changes nothing."""
        if user != ROOT:
            for key in split_list(p.get("delete")):
                if NET_KEY.fullmatch(key) and vm.config.get(key):
                    self._check_bridge(user, vm.config[key])
            for key, value in p.items():
                if NET_KEY.fullmatch(key) and vm.config.get(key) and vm.pending.get(key) != value:
                    self._check_bridge(user, vm.config[key])
        return await super()._apply_config(vm, user, p)
