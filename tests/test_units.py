"""Unit tests of the pure parts: allocation, naming, validation, plans, configuration, the backup format."""

from __future__ import annotations

import inspect
import io
import ipaddress
import json
import os
import re
import tarfile
from pathlib import Path

import pytest
from fakepve import formats

from tenctl_core.allocation import FirstFreeAllocator, free_subnets
from tenctl_core.backup import TarGzFormat
from tenctl_core.config import load_config, pool_capacity, read_secret_file, vlan_capacity
from tenctl_core.errors import AllocationError, ConfigError, StepFailed, TenctlError, UsageError
from tenctl_core.naming import (
    TENANT_NAME_MAX,
    TenantNames,
    check_tenant_name,
    check_userid,
)
from tenctl_core.plan import Plan, Step, apply_plan
from tenctl_core.providers import AllocationRequest
from tenctl_core.validation import (
    check_cidr,
    check_cpu,
    check_email,
    check_password,
    check_ram,
    check_storage,
    check_text,
    check_vlan,
)

net = ipaddress.IPv4Network


def request(ranges=((100, 199),), pool="10.100.0.0/16", prefix=24, vlans=(), subnets=(), **extra):
    return AllocationRequest(
        vlan_ranges=tuple(ranges),
        subnet_pool=net(pool),
        prefix_length=prefix,
        vlans_in_use=frozenset(vlans),
        subnets_in_use=tuple(net(s) for s in subnets),
        **extra,
    )


# ----------------------------------------------------------------------- allocation


def test_first_free_takes_the_lowest_vlan_and_subnet():
    got = FirstFreeAllocator().allocate(request())
    assert (got.vlan, got.subnet) == (100, net("10.100.0.0/24"))
    assert got.gateway == ipaddress.IPv4Address("10.100.0.1")


def test_first_free_skips_taken_vlans_and_moves_across_ranges():
    allocator = FirstFreeAllocator()
    ranges = ((100, 102), (200, 201), (3000, 3000))
    assert allocator.allocate(request(ranges, vlans={100, 102})).vlan == 101
    assert allocator.allocate(request(ranges, vlans={100, 101, 102})).vlan == 200
    assert allocator.allocate(request(ranges, vlans={100, 101, 102, 200, 201})).vlan == 3000
    # VLANs lost in a race are skipped like taken ones.
    assert allocator.allocate(request(ranges, vlans={100}, skip_vlans=frozenset({101, 102}))).vlan == 200


def test_first_free_keeps_what_the_user_asked_for():
    got = FirstFreeAllocator().allocate(request(vlans={100}, vlan=150, subnet=net("10.100.7.0/24")))
    assert (got.vlan, got.subnet) == (150, net("10.100.7.0/24"))


def test_subnets_of_any_size_come_from_a_pool_of_any_size():
    # A /22 pool holds sixteen /26 tenants.
    req = request(pool="192.168.0.0/22", prefix=26)
    subnets = list(free_subnets(req))
    assert len(subnets) == 16
    assert subnets[0] == net("192.168.0.0/26") and subnets[-1] == net("192.168.3.192/26")
    assert FirstFreeAllocator().allocate(req).subnet == net("192.168.0.0/26")
    taken = request(pool="192.168.0.0/22", prefix=26, subnets=["192.168.0.0/26", "192.168.0.64/26"])
    assert FirstFreeAllocator().allocate(taken).subnet == net("192.168.0.128/26")


def test_subnets_overlapping_a_used_one_are_excluded():
    # A tenant added by hand with a larger subnet blocks every /26 inside it, and a smaller one its /26.
    req = request(pool="192.168.0.0/22", prefix=26, subnets=["192.168.0.0/25", "192.168.0.130/32"])
    assert FirstFreeAllocator().allocate(req).subnet == net("192.168.0.192/26")
    whole = request(pool="192.168.0.0/22", prefix=26, subnets=["192.168.0.0/23", "192.168.2.0/24"])
    assert FirstFreeAllocator().allocate(whole).subnet == net("192.168.3.0/26")


def test_exhausted_vlans_say_which_ranges_to_widen():
    with pytest.raises(AllocationError) as caught:
        FirstFreeAllocator().allocate(request(((100, 101), (300, 300)), vlans={100, 101, 300}))
    assert "no free VLAN in 100-101, 300-300" in str(caught.value)
    assert "allocation.vlan_ranges" in str(caught.value)


def test_exhausted_subnets_say_which_pool_to_enlarge():
    used = ["10.0.0.0/30", "10.0.0.4/30"]
    with pytest.raises(AllocationError) as caught:
        FirstFreeAllocator().allocate(request(pool="10.0.0.0/29", prefix=30, subnets=used))
    assert "no free /30 subnet left in 10.0.0.0/29" in str(caught.value)
    assert "allocation.subnet_pool" in str(caught.value)


def test_the_example_allocator_takes_from_the_top():
    from tenctl_example.providers import HighestFreeAllocator

    got = HighestFreeAllocator().allocate(
        request(
            ((100, 199), (300, 302)),
            pool="192.168.0.0/22",
            prefix=26,
            vlans={302},
            subnets=["192.168.3.192/26"],
        )
    )
    assert (got.vlan, got.subnet) == (301, net("192.168.3.128/26"))
    # A /8 pool of /30s (four million candidates) is not listed to find the last one.
    top = HighestFreeAllocator().allocate(request(pool="10.0.0.0/8", prefix=30))
    assert top.subnet == net("10.255.255.252/30")
    with pytest.raises(AllocationError):
        HighestFreeAllocator().allocate(request(((5, 6),), vlans={5, 6}))


# --------------------------------------------------------------------------- naming

VALID_NAMES = ["a", "acme", "acme-corp", "team_7", "x" * TENANT_NAME_MAX, "a-" + "9" * (TENANT_NAME_MAX - 2)]
INVALID_NAMES = [
    "",
    "7up",
    "-acme",
    "_acme",
    "acme corp",
    "acme.corp",
    "acme/x",
    "acme@x",
    "acmé",
    "acme;rm",
    "x" * (TENANT_NAME_MAX + 1),
    "acme\n",
]
VNET_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9]*[a-zA-Z0-9]")  # the PVE 9 schema's pattern for vnet ids


@pytest.mark.parametrize("name", VALID_NAMES)
def test_every_valid_tenant_name_yields_ids_proxmox_accepts(name):
    assert check_tenant_name(name) == name
    names = TenantNames.for_tenant(name)
    assert formats.check("pve-poolid", names.pool) is None
    assert formats.check("pve-groupid", names.group) is None
    assert formats.check("pve-userid", names.admin_user) is None
    assert names.pool == f"tenant_{name}" and names.group == f"group_{name}"
    assert names.admin_user == f"admin_{name}@pve"


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_tenant_names_are_refused_before_any_request(name):
    with pytest.raises(UsageError) as caught:
        check_tenant_name(name)
    assert "tenant name" in str(caught.value)
    with pytest.raises(UsageError):
        TenantNames.for_tenant(name)


@pytest.mark.parametrize("vlan", [1, 2, 99, 100, 999, 1000, 4094])
def test_every_vlan_gives_a_valid_vnet_id(vlan):
    from tenctl_linux_bridge.settings import vnet_id

    vnet = vnet_id(vlan)
    assert 2 <= len(vnet) <= 8 and VNET_RE.fullmatch(vnet)


def test_admin_user_ids():
    assert check_userid("boss@pve") == "boss@pve"
    assert formats.check("pve-userid", TenantNames.for_tenant("acme", "boss.x@corp-ad").admin_user) is None
    for bad in ("boss", "boss@", "@pve", "bo ss@pve", "boss@pve/x", "bo:ss@pve", "a" * 61 + "@pve"):
        with pytest.raises(UsageError):
            check_userid(bad)


def test_subnet_id_is_what_proxmox_names_it():
    from tenctl_linux_bridge.sdn import subnet_id

    assert subnet_id("tenants", "10.100.3.0/24") == "tenants-10.100.3.0-24"


# ----------------------------------------------------------------------- validation


def test_numeric_limits():
    assert check_vlan(1) == 1 and check_vlan(4094) == 4094
    for bad in (0, 4095, -1):
        with pytest.raises(UsageError, match="VLAN"):
            check_vlan(bad)
    assert check_cpu(4) == 4 and check_ram(512) == 512 and check_storage(1) == 1
    with pytest.raises(UsageError, match=r"CPU limit \(cores\) 0 is out of range"):
        check_cpu(0)
    with pytest.raises(UsageError, match="RAM"):
        check_ram(511)
    with pytest.raises(UsageError, match="storage"):
        check_storage(0)


def test_cidr():
    assert check_cidr("10.1.2.0/24") == net("10.1.2.0/24")
    for bad, why in (
        ("10.1.2.3/24", "not a valid IPv4 network"),
        ("10.1.2.0", "needs a prefix length"),
        ("10.1.2.0/31", "too small"),
        ("fe80::/64", "not a valid IPv4"),
        ("x/24", "not a valid"),
    ):
        with pytest.raises(UsageError, match=why):
            check_cidr(bad)


def test_email():
    assert check_email("ops+tenant@example.org") == "ops+tenant@example.org"
    for bad in ("ops", "ops@", "ops@example", "o ps@example.org", "ops@exa_mple.org", 'a"b@example.org'):
        with pytest.raises(UsageError, match="not a valid address"):
            check_email(bad)


def test_free_text_keeps_out_metacharacters():
    reason = "Unpaid invoice 2024/07 (ticket: 42)"
    assert check_text("reason", reason) == reason
    for bad in ("a'b", 'a"b', "a;b", "a$b", "a`b", "a\nb", "a|b", "a&b", "a>b"):
        with pytest.raises(UsageError, match="not allowed"):
            check_text("reason", bad)
    with pytest.raises(UsageError, match="too long"):
        check_text("reason", "x" * 201)


def test_password():
    assert check_password("s3cret-enough") == "s3cret-enough"
    for bad in ("short", "x" * 65, "line\nbreak-x"):
        with pytest.raises(UsageError):
            check_password(bad)


# ---------------------------------------------------------------------------- plans


def test_apply_undoes_completed_steps_in_reverse_and_reports_what_was_not_undone():
    world: list[str] = []
    journal: list[tuple[str, str]] = []

    def step(name, fail=False, undo=True, undo_fails=False):
        def apply():
            if fail:
                raise RuntimeError(f"{name} broke")
            world.append(name)

        def revert():
            if undo_fails:
                raise TenctlError(f"{name} is stuck")
            world.remove(name)

        if not undo:
            return Step("test", f"make {name}", apply)
        return Step("test", f"make {name}", apply, revert, f"unmake {name}")

    plan = Plan("add", "acme")
    plan.add(
        step("pool"),
        step("group", undo_fails=True),
        step("record", undo=False),
        step("user"),
        step("vnet", fail=True),
        step("never"),
    )
    with pytest.raises(StepFailed) as caught:
        apply_plan(plan, lambda s, state: journal.append((s.action, state)))
    failure = caught.value
    assert failure.step == "make vnet"
    assert failure.undone == ["unmake user", "unmake pool"]
    assert failure.not_undone == ["make record (no undo)", "unmake group failed: group is stuck"]
    assert world == ["group", "record"]  # what the error says is left is what is left
    assert "COULD NOT BE UNDONE" in str(failure) and "make record (no undo)" in str(failure)
    assert journal == [
        ("make pool", "applying"),
        ("make pool", "done"),
        ("make group", "applying"),
        ("make group", "done"),
        ("make record", "applying"),
        ("make record", "done"),
        ("make user", "applying"),
        ("make user", "done"),
        ("make vnet", "applying"),
        ("make vnet", "failed"),
        ("make user", "undone"),
        ("make group", "undo-failed"),
        ("make pool", "undone"),
    ]


def test_a_plan_that_succeeds_runs_every_step_in_order():
    order: list[int] = []
    plan = Plan("add", "acme")
    plan.add(*(Step("test", f"step {i}", (lambda i=i: order.append(i))) for i in range(5)))
    assert [s.action for s in apply_plan(plan)] == [f"step {i}" for i in range(5)]
    assert order == [0, 1, 2, 3, 4]


def test_a_failing_first_step_says_nothing_was_changed():
    plan = Plan("add", "acme")
    plan.add(Step("test", "make pool", lambda: 1 / 0))
    with pytest.raises(StepFailed, match="nothing had been changed"):
        apply_plan(plan)


# ---------------------------------------------------------------------- configuration


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TENCTL_CONFIG", raising=False)
    monkeypatch.delenv("TENCTL_PROFILE", raising=False)

    def write(text: str) -> str:
        path = tmp_path / "tenctl.toml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


PATHS = '[paths]\ncluster_dir = "/x/c"\ntenants_dir = "/x/t"\nlog_dir = "/x/l"\n'


def test_profiles_override_the_top_level(config_file):
    path = config_file(
        """
profile = "lab"

[proxmox]
host = "pve.example.org"
port = 8006

[allocation]
vlan_ranges = ["100-199"]

[profiles.lab.proxmox]
host = "127.0.0.1"

[profiles.prod.allocation]
vlan_ranges = ["1000-1999", "3000-3099"]
"""
        + PATHS
    )
    lab = load_config(path)
    assert lab.profile == "lab"
    assert (lab.proxmox.host, lab.proxmox.port) == ("127.0.0.1", 8006)
    assert lab.allocation.vlan_ranges == ((100, 199),)
    prod = load_config(path, "prod")
    assert prod.proxmox.host == "pve.example.org"
    assert prod.allocation.vlan_ranges == ((1000, 1999), (3000, 3099))
    assert vlan_capacity(prod) == 1100 and pool_capacity(prod) == 256
    with pytest.raises(ConfigError, match="profile 'staging' is not defined .*profiles: lab, prod"):
        load_config(path, "staging")


def test_the_profile_can_come_from_the_environment(config_file, monkeypatch):
    path = config_file(PATHS + '[profiles.other.sdn]\nzone = "other"\n')
    monkeypatch.setenv("TENCTL_PROFILE", "other")
    assert load_config(path).tables["sdn"]["zone"] == "other"


@pytest.mark.parametrize(
    "text, key",
    [
        ("colour = 1\n", "'colour'"),
        ('[proxmox]\nhots = "x"\n', "proxmox.hots"),
        ('[allocation]\nvlan_range = ["100-199"]\n', "allocation.vlan_range"),
    ],
)
def test_an_unknown_key_is_named(config_file, text, key):
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(text + PATHS))
    assert f"unknown key {key}" in str(caught.value)


@pytest.mark.parametrize("key", ["password", "token_secret", "secret"])
def test_inline_secrets_are_refused(config_file, key):
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(f'[proxmox]\n{key} = "hunter22"\n' + PATHS))
    message = str(caught.value)
    assert f"proxmox.{key}: secrets do not go in the configuration file" in message
    assert "hunter22" not in message


def test_wrong_types_and_values_are_named(config_file):
    with pytest.raises(ConfigError, match=r"proxmox.port = '8006' has the wrong type"):
        load_config(config_file('[proxmox]\nport = "8006"\n' + PATHS))
    with pytest.raises(ConfigError, match="prefix_length = 12: must be at least the pool's prefix length"):
        load_config(config_file('[allocation]\nsubnet_pool = "10.0.0.0/16"\nprefix_length = 12\n' + PATHS))


@pytest.mark.parametrize(
    "mode, ok", [(0o600, True), (0o400, True), (0o640, True), (0o644, False), (0o660, False), (0o604, False)]
)
def test_secret_files_must_not_be_open_to_others(tmp_path, mode, ok):
    secret = tmp_path / "token"
    secret.write_text("the-token-value\n", encoding="utf-8")
    os.chmod(secret, mode)
    if ok:
        assert read_secret_file(secret, "proxmox.token_secret_file") == "the-token-value"
    else:
        with pytest.raises(ConfigError) as caught:
            read_secret_file(secret, "proxmox.token_secret_file")
        assert f"chmod 600 {secret}" in str(caught.value)
        assert "the-token-value" not in str(caught.value)


def test_a_secret_file_named_in_the_config_is_read(config_file, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("abc-123\n", encoding="utf-8")
    os.chmod(secret, 0o600)
    text = f'[proxmox]\ntoken_name = "tk"\ntoken_secret_file = "{secret}"\n'
    config = load_config(config_file(text + PATHS))
    assert config.read_secret("token") == "abc-123"
    assert "abc-123" not in repr(config.as_dict())


def test_vlan_ranges_are_parsed_sorted_and_checked(config_file):
    config = load_config(config_file('[allocation]\nvlan_ranges = ["3000-3099", "100-199", "500"]\n' + PATHS))
    assert config.allocation.vlan_ranges == ((100, 199), (500, 500), (3000, 3099))
    for ranges, why in (
        ('["100-199", "150-250"]', "overlap at VLAN 150"),
        ('["100-199", "199-300"]', "overlap at VLAN 199"),
        ('["1-10"]', "must lie within 2-4094"),
        ('["200-100"]', "must lie within 2-4094"),
        ('["100-5000"]', "must lie within 2-4094"),
        ('["a-b"]', "not a range"),
        ("[]", "non-empty list"),
    ):
        with pytest.raises(ConfigError, match=why):
            load_config(config_file(f"[allocation]\nvlan_ranges = {ranges}\n" + PATHS))


# ------------------------------------------------------------------------ backups


def test_the_tar_gz_format_round_trips(tmp_path):
    members = {"tenant.toml": b"name = 'acme'\n", "acl/pool.json": b"[]", "empty": b""}
    archive = tmp_path / "acme_20240101_000000.tar.gz"
    TarGzFormat().write(archive, members)
    assert TarGzFormat().read(archive) == members
    with tarfile.open(archive, "r:gz") as tar:
        assert sorted(tar.getnames()) == sorted(members)
        assert all(info.mode == 0o600 for info in tar.getmembers())


def raw_archive(path: Path, *infos: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, content in infos:
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content else None)
    return path


def file_info(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def link_info(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "member, why",
    [
        (file_info("../x"), "unsafe member name '../x'"),
        (file_info("a/../../x"), "unsafe member name"),
        (file_info("/etc/cron.d/x"), "unsafe member name '/etc/cron.d/x'"),
        (file_info("a\\..\\x"), "unsafe member name"),
        (link_info("tenant.toml", "/etc/shadow"), "'tenant.toml' is not a regular file"),
        (link_info("hard", "/etc/shadow", tarfile.LNKTYPE), "'hard' is not a regular file"),
    ],
)
def test_reading_refuses_unsafe_members(tmp_path, member, why):
    archive = raw_archive(
        tmp_path / "evil.tar.gz",
        (file_info("ok.toml"), b"fine"),
        (member, b"" if member.type != tarfile.REGTYPE else b"payload"),
    )
    with pytest.raises(TenctlError, match=re.escape(why)):
        TarGzFormat().read(archive)
    assert not (tmp_path / "x").exists()


def test_writing_refuses_unsafe_names(tmp_path):
    for name in ("../x", "/abs", ""):
        with pytest.raises(TenctlError, match="unsafe member name"):
            TarGzFormat().write(tmp_path / "out.tar.gz", {name: b"x"})


def test_a_corrupt_archive_is_an_error_not_a_traceback(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"this is not gzip")
    with pytest.raises(TenctlError, match="not a readable tar.gz archive"):
        TarGzFormat().read(archive)


def registered_formats():
    from tenctl_core.plugins import get_plugin_manager

    return list(get_plugin_manager().backup_formats())


@pytest.mark.parametrize("fmt", registered_formats(), ids=lambda f: f.name)
def test_every_registered_format_round_trips_text_and_binary_members(tmp_path, fmt):
    members = {"tenant.toml": "name = 'acmé'\n".encode(), "providers/x.json": b"[]", "bin": bytes(range(256)), "empty": b""}
    archive = tmp_path / f"acme_20240101_000000{fmt.extension}"
    fmt.write(archive, members)
    assert fmt.read(archive) == members


def test_the_json_format_keeps_text_readable_and_binary_as_base64(tmp_path):
    from tenctl_core.backup import JsonFormat

    archive = tmp_path / "acme.json"
    JsonFormat().write(archive, {"tenant.toml": b"name = 'acme'\n", "bin": b"\xff\x00"})
    document = json.loads(archive.read_text())
    assert document["tenctl_backup"] == "json"
    assert document["members"] == {"tenant.toml": {"text": "name = 'acme'\n"}, "bin": {"base64": "/wA="}}


def test_reading_refuses_a_member_twice_and_too_many_members(tmp_path, monkeypatch):
    from tenctl_core import backup

    twice = raw_archive(tmp_path / "twice.tar.gz", (file_info("a"), b"1"), (file_info("a"), b"2"))
    with pytest.raises(TenctlError, match="member 'a' appears twice"):
        TarGzFormat().read(twice)
    monkeypatch.setattr(backup, "MEMBERS_MAX", 2)
    many = raw_archive(tmp_path / "many.tar.gz", *((file_info(f"m{i}"), b"x") for i in range(3)))
    with pytest.raises(TenctlError, match="more than 2 members"):
        TarGzFormat().read(many)


def test_a_tar_whose_headers_unpack_to_too_much_is_refused_before_tarfile_reads_them(tmp_path, monkeypatch):
    """tarfile reads a pax header whole into memory: the unpacked size is counted first."""
    from tenctl_core import backup

    monkeypatch.setattr(backup, "ARCHIVE_MAX", 1000)
    monkeypatch.setattr(backup, "TAR_OVERHEAD", 10240)
    info = file_info("tenant.toml")
    info.pax_headers = {"comment": "x" * 100_000}
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b""))
    assert archive.stat().st_size < 2000
    with pytest.raises(TenctlError, match="it unpacks to more than 11240 bytes"):
        TarGzFormat().read(archive)


def test_a_schema_1_record_keeps_its_zone_and_vnet_in_the_sdn_section():
    """0.2 wrote zone and vnet at the top of the record; reading moves them to the SDN provider's part."""
    from tenctl_core.model import SCHEMA_VERSION, Tenant

    old = {
        "name": "old",
        "pool": "tenant_old",
        "group": "group_old",
        "admin_user": "admin_old@pve",
        "vlan": 300,
        "subnet": "10.100.100.0/24",
        "gateway": "10.100.100.1",
        "zone": "tenants",
        "vnet": "vn300",
        "cpu_limit": 2,
        "ram_limit": 2048,
        "storage_limit": 20,
        "status": "active",
        "schema": 1,
    }
    tenant = Tenant.from_toml_dict(old, "old.toml")
    assert tenant.plugins == {"sdn-vnet": {"zone": "tenants", "vnet": "vn300"}}
    assert tenant.schema == SCHEMA_VERSION == 2
    saved = tenant.to_toml_dict()
    assert "zone" not in saved and "vnet" not in saved
    assert Tenant.from_toml_dict(saved, "old.toml") == tenant
    # A record that has both (written half by each version) keeps the section's values.
    both = {**old, "plugins": {"sdn-vnet": {"zone": "z2", "vnet": "vn301"}}}
    assert Tenant.from_toml_dict(both, "old.toml").plugins["sdn-vnet"] == {"zone": "z2", "vnet": "vn301"}


def test_a_plugin_option_that_clashes_with_a_core_option_is_refused():
    from tenctl_core.cli.commands import init
    from tenctl_core.cli.lazy import with_plugin_options
    from tenctl_core.errors import PluginError
    from tenctl_core.providers import CommandOption

    clash = CommandOption("init", ("--force", "-F"), "x.force", "clashes with init's own --force")
    with pytest.raises(PluginError, match="clashes with --force"):
        with_plugin_options(init, [clash])
    fine = CommandOption("init", ("--x-site",), "x.site", "a new option")
    wrapped = with_plugin_options(init, [fine])
    assert "plugin_x_site" in inspect.signature(wrapped).parameters
    assert "force" in inspect.signature(wrapped).parameters
