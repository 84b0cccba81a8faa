"""Complete tenants put straight into a lab, for tests and benchmarks that need many of them.

Building hundreds of tenants through the command line would take minutes; these are the same
objects `tenctl add` leaves behind, with their ownership markers: a record, pool, group, admin user,
VNet and subnet (in the pending and the running SDN configuration), named after their VLAN so that repeated calls with
different VLANs never collide.
"""

from __future__ import annotations

import ipaddress
from typing import Any

SEED_POOL = ipaddress.IPv4Network("10.200.0.0/16")
SEED_PREFIX = 28  # 4096 subnets: one per possible VLAN


def seed_subnet(vlan: int) -> ipaddress.IPv4Network:
    size = 2 ** (32 - SEED_PREFIX)
    return ipaddress.IPv4Network((int(SEED_POOL.network_address) + vlan * size, SEED_PREFIX))


def seed_tenants(
    lab: Any, count: int, first_vlan: int = 500, zone: str = "tenants", admin_role: str = "TenctlTenant"
) -> list[str]:
    """Add `count` active tenants on VLANs first_vlan.. (each with cpu 1, RAM 512 MB, storage 1 GB).

    Their groups get the ACL entries `tenctl add` grants with the default configuration.
    """
    from tenctl_core.model import ACTIVE, Tenant
    from tenctl_core.ownership import Marker, ensure_installation
    from tenctl_core.store import TenantStore

    pve = lab.pve
    for state in (pve.sdn_config, pve.sdn_running):
        state["zones"].setdefault(zone, {"type": "vlan", "bridge": "vmbr0"})
    store = TenantStore(lab.dir / "etc-pve" / "tenants")
    installation = ensure_installation(store.directory)
    names = []
    for vlan in range(first_vlan, first_vlan + count):
        name = f"seed{vlan}"
        subnet = seed_subnet(vlan)
        sid = f"{zone}-{subnet.network_address}-{subnet.prefixlen}"  # how PVE names a subnet
        tenant = Tenant(
            name=name,
            pool=f"tenant_{name}",
            group=f"group_{name}",
            admin_user=f"admin_{name}@pve",
            vlan=vlan,
            subnet=str(subnet),
            gateway=str(subnet.network_address + 1),
            plugins={"sdn-vnet": {"zone": zone, "vnet": f"vn{vlan}"}},
            cpu_limit=1,
            ram_limit=512,
            storage_limit=1,
            status=ACTIVE,
            storages=["local-lvm"],
            installation=installation,
        )
        marker = Marker(installation, name)
        store.save(tenant)
        pve.pools[tenant.pool] = set()
        comment = marker.label(f"Tenant {name}")
        pve.pool_info[tenant.pool] = {"comment": comment, "storage": set()}
        pve.lab_groups[tenant.group] = {"comment": comment}
        pve.lab_users[tenant.admin_user] = pve._new_user_record(groups={tenant.group})
        pve.lab_users[tenant.admin_user]["comment"] = marker.label(f"Administrator of tenant {name}")
        alias = marker.label(f"Network for {name} {subnet}")
        vnet = {"zone": zone, "tag": vlan, "alias": alias, "type": "vnet"}
        sub = {"gateway": tenant.gateway, "type": "subnet", "vnet": f"vn{vlan}"}
        for state in (pve.sdn_config, pve.sdn_running):
            state["vnets"][f"vn{vlan}"] = dict(vnet)
            state["subnets"][sid] = dict(sub)
        grants = [
            (f"/pool/{tenant.pool}", admin_role),
            ("/storage/local-lvm", "PVEDatastoreUser"),
            (f"/sdn/zones/{zone}/vn{vlan}", "PVESDNUser"),
        ]
        for path, role in dict.fromkeys(grants):
            pve.lab_acl.append({"path": path, "type": "group", "ugid": tenant.group, "roleid": role, "propagate": True})
        names.append(name)
    pve.rebuild_grants()
    return names
