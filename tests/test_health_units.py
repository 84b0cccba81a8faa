"""Unit tests of health's pure parts: subnet capacity, second-factor listings, which repairs --fix plans, and
the index that keeps drift linear in the number of tenants."""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tenctl_core.checkup import HealthReport, planned_fixes
from tenctl_core.engine import is_owned, legacy_for, sorted_by_owner
from tenctl_core.health import blocked_subnets
from tenctl_core.model import Tenant
from tenctl_core.ownership import Marker
from tenctl_core.providers import REPAIR, RESTORE_ROLE, REVOKE_GRANTS, SYNC, CheckResult, Observed, Remedy
from tenctl_core.tfa import realms_requiring_tfa, users_with_a_factor

net = ipaddress.IPv4Network


def test_blocked_subnets_counts_the_tenant_sized_subnets_that_overlap_what_is_taken():
    pool = net("10.100.0.0/16")
    assert blocked_subnets(pool, 24, []) == 0
    assert blocked_subnets(pool, 24, [net("10.100.3.0/24"), net("10.100.3.0/24")]) == 1
    # Two /28s in one /24 block one; a /22 blocks four; outside the pool, nothing.
    assert blocked_subnets(pool, 24, [net("10.100.7.0/28"), net("10.100.7.16/28")]) == 1
    assert blocked_subnets(pool, 24, [net("10.100.8.0/22")]) == 4
    assert blocked_subnets(pool, 24, [net("10.200.0.0/24"), net("192.168.0.0/16")]) == 0
    # A network larger than the pool blocks all of it.
    assert blocked_subnets(pool, 24, [net("10.0.0.0/8")]) == 256


def test_only_enabled_factors_other_than_recovery_keys_count():
    listing = [
        {"userid": "a@pve", "entries": [{"type": "totp", "id": "1"}]},
        {"userid": "b@pve", "entries": [{"type": "recovery", "id": "recovery"}]},
        {"userid": "c@pve", "entries": [{"type": "webauthn", "id": "2", "enable": 0}]},
        {
            "userid": "d@pve",
            "entries": [{"type": "recovery", "id": "recovery"}, {"type": "yubico", "id": "3"}],
        },
    ]
    assert users_with_a_factor(listing) == {"a@pve", "d@pve"}
    realms = [{"realm": "pam", "type": "pam"}, {"realm": "pve", "type": "pve", "tfa": "oath"}]
    assert realms_requiring_tfa(realms) == {"pve": "oath"}


@dataclass
class ScopedContext:
    """What planned_fixes reads of a context."""

    tenant_scope: str | None = None
    cache: dict[str, Any] = field(default_factory=dict)


def report_of(*remedies: Remedy, status: str = "fail") -> HealthReport:
    return HealthReport([CheckResult("x", status, "finding", [], list(remedies))])


def test_fix_plans_each_repair_once_in_order_and_only_for_findings():
    report = HealthReport(
        [
            CheckResult("drift", "fail", "", [], [Remedy("s", SYNC, ("b",)), Remedy("s", SYNC, ("a",))]),
            CheckResult(
                "acls", "fail", "", [], [Remedy("s", SYNC, ("b",)), Remedy("r", REVOKE_GRANTS, ("b",))]
            ),
            CheckResult("unfinished", "warn", "", [], [Remedy("r", REPAIR, ("c",))]),
            CheckResult("tenant-role", "fail", "", [], [Remedy("tenctl init", RESTORE_ROLE)]),
            CheckResult("tfa", "warn", "", [], [Remedy("pveum realm modify pve --tfa type=oath")]),
            CheckResult("passing", "pass", "", [], [Remedy("s", SYNC, ("z",))]),
        ]
    )
    plan = planned_fixes(ScopedContext(), report)  # type: ignore[arg-type]
    assert list(plan.items()) == [
        (REPAIR, ["c"]),
        (RESTORE_ROLE, []),
        (SYNC, ["b", "a"]),
        (REVOKE_GRANTS, ["b"]),
    ]
    # With -n, only that tenant's repairs; the cluster-wide role is left to the operator.
    scoped = planned_fixes(ScopedContext("b"), report)  # type: ignore[arg-type]
    assert scoped == {SYNC: ["b"], REVOKE_GRANTS: ["b"]}


def test_a_report_exits_2_when_unreachable_1_on_a_failure_else_0():
    assert report_of(status="warn").exit_code() == 0
    assert report_of().exit_code() == 1
    assert HealthReport([], unreachable=True).exit_code() == 2
    assert report_of(status="warn").summary() == {
        "total_checks": 1,
        "passed": 0,
        "failed": 0,
        "warnings": 1,
        "status": "warn",
    }


# ------------------------------------------------------------------- the drift index

TENANTS = ("acme", "beta")
INSTALLATIONS = ("i1", "i2")


@st.composite
def listings(draw: Any) -> list[Observed]:
    """Objects with markers, 0.2 owners and parents (chains of them, dangling parents; no cycles, which no
    backend has: an ACL entry hangs on a group, a subnet on a VNet)."""
    count = draw(st.integers(1, 12))
    keys = [("kind", f"o{n}") for n in range(count)]
    objects = []
    for position, key in enumerate(keys):
        marker = draw(
            st.one_of(st.none(), st.builds(Marker, st.sampled_from(INSTALLATIONS), st.sampled_from(TENANTS)))
        )
        legacy = draw(st.one_of(st.none(), st.sampled_from(TENANTS)))
        parent = draw(st.one_of(st.none(), st.sampled_from([*keys[:position], ("kind", "gone")])))
        objects.append(Observed(key[0], key[1], {}, marker, parent, legacy))
    return objects


def tenant(name: str) -> Tenant:
    return Tenant(name, "", "", "", 1, "10.0.0.0/24", "10.0.0.1", 1, 512, 1)


@given(listings())
def test_the_owner_index_holds_every_object_a_tenant_may_own(objects):
    """Drift looks only at the objects the index lists under a tenant's name: that must be each object that
    is the tenant's (marker or parent) or made by tenctl 0.2 for it."""
    made = sorted_by_owner(ScopedContext(), objects, keep=False)  # type: ignore[arg-type]
    for name, installation in itertools.product(TENANTS, INSTALLATIONS):
        marker = Marker(installation, name)
        listed = {o.key for o in made.owned_by.get(name, [])}
        for found in objects:
            if is_owned(found, marker, made.index) or legacy_for(found, tenant(name), made.index):
                assert found.key in listed, (found, name, installation)
