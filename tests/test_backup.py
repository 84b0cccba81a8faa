"""Backups and restores through the real command line, checked on the lab's Proxmox, router and switches.

The archives tampered with are made by hand from a real backup (the formats' own files, changed); a
refused restore must leave the lab's request log without a single write."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import tomli_w
from conftest import created_password, lab_snapshot, ok

from tenctl_core.backup import MEMBER_MAX

WAN = ("--wan-ip", "203.0.113.2/24", "--wan-gw", "203.0.113.1")
SITES = {"site-a": ("pve1", "pve2"), "site-b": ("pve3",)}


def full_config(lab) -> Path:
    """The lab's configuration with its VyOS router (over the HTTPS API) and its four EOS switches."""
    data = tomllib.loads(lab.edge_config("api").read_text(encoding="utf-8"))
    sites = []
    for site, nodes in SITES.items():
        entries = [
            {
                key: (list(info[key]) if key == "trunk_ports" else info[key])
                for key in ("name", "driver", "host", "port", "user", "password_file", "ca_file", "trunk_ports")
            }
            for info in lab.switches_info
            if info["site"] == site
        ]
        sites.append({"name": site, "nodes": list(nodes), "switches": entries})
    data["switches"] = {"sites": sites}
    path = lab.dir / "full.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def proxmox_state(lab) -> dict:
    """What tenctl changes on the simulated Proxmox, without the users' passwords (a restore sets a new
    one) and with the ACL as a set."""
    state = lab_snapshot(lab)
    for user in state["access"]["users"].values():
        user.pop("password", None)
    state["access"]["acl"] = sorted(json.dumps(e, sort_keys=True) for e in state["access"]["acl"])
    return state


def every_layer(lab) -> dict:
    return {
        "proxmox": proxmox_state(lab),
        "vyos": sorted(lab.vyos.running_commands()),
        "switches": {name: switch.running_config() for name, switch in lab.switches.items()},
    }


def record(lab, name: str) -> dict:
    return tomllib.loads((lab.dir / "etc-pve" / "tenants" / f"{name}.toml").read_text(encoding="utf-8"))


def archive_of(result) -> Path:
    [line] = [line for line in result.stdout.splitlines() if line.startswith("Backup of tenant")]
    return Path(line.rpartition(" written to ")[2])


def writes_since(lab, mark: int) -> list[dict]:
    return [r for r in lab.requests_log_since(mark) if r["method"] != "GET"]


def test_backup_remove_restore_gives_back_the_same_tenant_on_every_layer(lab, tmp_path):
    config = full_config(lab)

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    ok(run("vyos", "configure", *WAN, "--force"))
    ok(run("add", "-n", "acme", "-c", "4", "-r", "8192", "-s", "100", "-e", "ops@acme.example"))
    ok(run("add", "-n", "beta"))
    ok(run("suspend", "-n", "acme", "--reason", "unpaid invoice"))
    before, kept = every_layer(lab), record(lab, "acme")
    assert any("TENCTL-SUSPENDED network '10.100.0.0/24'" in line for line in before["vyos"])
    assert all(100 in switch.vlans() for switch in lab.switches.values())

    path = archive_of(ok(run("backup", "-n", "acme", "-o", str(tmp_path / "out"))))
    assert path.parent == tmp_path / "out" and path.name.startswith("acme_") and path.name.endswith(".tar.gz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ok(run("remove", "-n", "acme", "-f"))
    gone = every_layer(lab)
    assert "tenant_acme" not in gone["proxmox"]["pools"] and "vn100" not in gone["proxmox"]["sdn_running"]["vnets"]
    assert not any("'10.100.0.0/24'" in line for line in gone["vyos"])
    assert all(100 not in switch.vlans() for switch in lab.switches.values())

    restored = ok(run("restore", "--file", str(path)))
    assert "Tenant acme restored" in restored.stdout
    password = created_password(restored.stdout)
    assert every_layer(lab) == before  # pool, group, user (disabled), ACLs, VNet, subnet, router, switches
    assert lab.pve.users["admin_acme@pve"] == password  # a new password: the archive held none
    again = record(lab, "acme")
    for key in ("created_date", "suspend_reason", "suspend_date", "status", "cpu_limit", "ram_limit",
                "storage_limit", "email", "vlan", "subnet", "storages", "plugins", "installation"):
        assert again[key] == kept[key], key
    assert again["status"] == "suspended" and not again["journal"]


def add_and_back_up(lab, tmp_path, fmt: str = "tar.gz", *add_args: str) -> Path:
    ok(lab.run("add", "-n", "acme", "-c", "3", "-r", "4096", "-s", "50", "-e", "ops@acme.example", *add_args))
    return archive_of(ok(lab.run("backup", "-n", "acme", "-o", str(tmp_path / "out"), "--format", fmt)))


@pytest.mark.parametrize("fmt", ["tar.gz", "json"])
def test_every_format_round_trips_and_holds_no_secret(cluster, tmp_path, fmt):
    lab = cluster
    secret = tmp_path / "pw"
    secret.write_text("Very-Secret-Passw0rd\n")
    path = add_and_back_up(lab, tmp_path, fmt, "--password-file", str(secret))
    assert path.name.endswith(".tar.gz" if fmt == "tar.gz" else ".json")
    raw = path.read_bytes() if fmt == "json" else b"".join(
        tarfile.open(path).extractfile(m).read() for m in tarfile.open(path).getmembers()
    )
    assert b"Very-Secret-Passw0rd" not in raw and b"password" not in raw.lower()
    before, kept = proxmox_state(lab), record(lab, "acme")
    ok(lab.run("remove", "-n", "acme", "-f"))
    out = tmp_path / "new-password"
    restored = json.loads(ok(lab.run("restore", "--file", str(path), "--password-out", str(out), "--json")).stdout)
    assert restored["tenant_name"] == "acme" and restored["vlan_id"] == 100 and "password" not in restored
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert lab.pve.users["admin_acme@pve"] == out.read_text().strip() != "Very-Secret-Passw0rd"
    assert proxmox_state(lab) == before
    assert {k: v for k, v in record(lab, "acme").items() if k != "updated_date"} == {
        k: v for k, v in kept.items() if k != "updated_date"
    }


# ------------------------------------------------------------------------------ archives tampered with


def members_of(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def with_manifest(members: dict[str, bytes], **changes) -> dict[str, bytes]:
    """The members with the manifest's checksums made to match them again (and any manifest key changed)."""
    manifest = json.loads(members["manifest.json"])
    manifest["members"] = {
        name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
        for name, content in members.items()
        if name != "manifest.json"
    }
    manifest.update(changes)
    return {**members, "manifest.json": json.dumps(manifest).encode()}


def record_changed(members: dict[str, bytes], **values) -> dict[str, bytes]:
    data = tomllib.loads(members["tenant.toml"].decode())
    data.update(values)
    return {**members, "tenant.toml": tomli_w.dumps(data).encode()}


def write_tar(path: Path, members: dict[str, bytes], *extra: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"\0" * info.size) if info.isfile() else None)
    return path


def link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def big(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = MEMBER_MAX + 1  # zeros: a few kilobytes compressed
    return info


TAMPERED = {
    "checksum mismatch": (lambda m: (record_changed(m, cpu_limit=64), ()), "does not match its checksum"),
    "path traversal": (lambda m: ({**m, "../../etc/cron.d/evil": b"* * * * * root id"}, ()), "unsafe member name '../../etc/cron.d/evil'"),
    "absolute path": (lambda m: ({**m, "/etc/evil": b"x"}, ()), "unsafe member name '/etc/evil'"),
    "symbolic link": (lambda m: ({k: v for k, v in m.items() if k != "guests.json"}, (link("guests.json", "/etc/shadow"),)), "'guests.json' is not a regular file"),
    "huge member": (lambda m: (m, (big("providers/huge.json"),)), f"'providers/huge.json' is larger than {MEMBER_MAX} bytes"),
    "bad tenant name": (lambda m: (with_manifest(record_changed(m, name="acme;id"), tenant="acme;id"), ()), "tenant name 'acme;id' is invalid"),
    "bad value": (lambda m: (with_manifest(record_changed(m, vlan=5000)), ()), "VLAN 5000 is out of range"),
    "unknown format version": (lambda m: (with_manifest(m, format_version=2), ()), "format version 2, newer than this tenctl reads (1)"),
    "member missing": (lambda m: ({k: v for k, v in m.items() if k != "guests.json"}, ()), "member 'guests.json', listed in the manifest, is missing"),
    "member not in the manifest": (lambda m: ({**m, "providers/extra.json": b"{}"}, ()), "member 'providers/extra.json' is not in the manifest"),
    "manifest naming another tenant": (lambda m: (with_manifest(m, tenant="beta"), ()), "the manifest names tenant 'beta' but the record is of tenant 'acme'"),
    "manifest with a wrong size": (
        lambda m: ({**m, "manifest.json": json.dumps({**json.loads(m["manifest.json"]), "members": {**json.loads(m["manifest.json"])["members"], "tenant.toml": {**json.loads(m["manifest.json"])["members"]["tenant.toml"], "size": 1}}}).encode()}, ()),
        "'tenant.toml' does not match its checksum",
    ),
    "record mid-operation": (lambda m: (with_manifest(record_changed(m, status="provisioning")), ()), "only an active or suspended tenant can be restored"),
}


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory, lab_pki):
    """A lab of its own whose tenant acme was backed up (tar.gz and json) and then removed."""
    from tenctl_lab.pytest_plugin import start_lab

    directory = tmp_path_factory.mktemp("backup-lab")
    lab = start_lab(directory / "lab", lab_pki)
    try:
        ok(lab.run("init"))
        ok(lab.run("add", "-n", "acme", "-e", "ops@acme.example"))
        archives = {
            fmt: archive_of(ok(lab.run("backup", "-n", "acme", "-o", str(directory / fmt), "--format", fmt)))
            for fmt in ("tar.gz", "json")
        }
        ok(lab.run("remove", "-n", "acme", "-f"))
        yield lab, archives
    finally:
        lab.close()


def refused_without_a_change(lab, path: Path, why: str) -> None:
    before, mark = proxmox_state(lab), lab.mark()
    result = lab.run("restore", "--file", str(path))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert why in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert lab.requests_log_since(mark) == [], "the archive is checked before the first request"
    assert proxmox_state(lab) == before and not (lab.dir / "etc-pve" / "tenants" / "acme.toml").exists()


@pytest.mark.e2e
@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_archive_is_refused_with_nothing_changed(backed_up, tmp_path, case):
    lab, archives = backed_up
    tamper, why = TAMPERED[case]
    members, extra = tamper(members_of(archives["tar.gz"]))
    refused_without_a_change(lab, write_tar(tmp_path / "acme_20250101_000000.tar.gz", members, *extra), why)


def json_document(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


JSON_TAMPERED = {
    "path traversal": (lambda d: {**d, "members": {**d["members"], "../x": {"text": "x"}}}, "unsafe member name '../x'"),
    "bad base64": (lambda d: {**d, "members": {**d["members"], "guests.json": {"base64": "!!!"}}}, "member 'guests.json' is not valid base64"),
    "not a member object": (lambda d: {**d, "members": {**d["members"], "guests.json": ["[]"]}}, "member 'guests.json' is not"),
    "checksum mismatch": (
        lambda d: {**d, "members": {**d["members"], "tenant.toml": {"text": d["members"]["tenant.toml"]["text"].replace("cpu_limit = 8", "cpu_limit = 9")}}},
        "does not match its checksum",
    ),
    "nested too deep": (lambda d: json.dumps(d)[:-1] + ', "x": ' + "[" * 100000 + "]" * 100000 + "}", "is not a readable JSON backup"),
    "not a tenctl document": (lambda d: {"members": d["members"]}, "is not a tenctl JSON backup"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", sorted(JSON_TAMPERED))
def test_a_tampered_json_archive_is_refused_with_nothing_changed(backed_up, tmp_path, case):
    lab, archives = backed_up
    tamper, why = JSON_TAMPERED[case]
    path = tmp_path / "acme_20250101_000000.json"
    document = tamper(json_document(archives["json"]))
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    refused_without_a_change(lab, path, why)


@pytest.mark.e2e
def test_a_file_that_is_no_archive_is_refused(backed_up, tmp_path):
    lab, _ = backed_up
    for name, content, why in (
        ("junk.tar.gz", b"not gzip at all", "is not a readable tar.gz archive"),
        ("junk.json", b"{", "is not a readable JSON backup"),
        ("junk.zip", b"PK", "its name ends in no backup format's extension"),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        refused_without_a_change(lab, path, why)
    refused_without_a_change(lab, tmp_path / "missing.tar.gz", "does not exist or is not a regular file")


@pytest.mark.e2e
def test_the_untouched_archives_restore_after_the_refusals(backed_up):
    """The same lab, after every refusal above: the archives that were not changed restore (and the json one
    then finds its tenant there: a restore never overwrites a tenant)."""
    lab, archives = backed_up
    ok(lab.run("restore", "--file", str(archives["tar.gz"])))
    assert "tenant_acme" in lab.pve.pools and lab.pve.lab_users["admin_acme@pve"]["email"] == "ops@acme.example"
    mark = lab.mark()
    taken = lab.run("restore", "--file", str(archives["json"]))
    assert taken.exit_code == 1 and "tenant 'acme' already exists" in taken.stderr and "--new-name" in taken.stderr
    assert writes_since(lab, mark) == []
    ok(lab.run("remove", "-n", "acme", "-f"))


# ------------------------------------------------------------------------------ remapping, dry runs


def vnet_and_subnet(lab, vnet: str) -> tuple[int, list[str]]:
    running = lab.pve.sdn_running
    return int(running["vnets"][vnet]["tag"]), sorted(s for s, v in running["subnets"].items() if v["vnet"] == vnet)


def group_acl(lab, group: str) -> list[tuple[str, str]]:
    return sorted((e["path"], e["roleid"]) for e in lab.pve.lab_acl if e["type"] == "group" and e["ugid"] == group)


def test_restore_remaps_a_taken_vlan_and_subnet_and_says_so_first(cluster, tmp_path):
    lab = cluster
    path = add_and_back_up(lab, tmp_path)
    ok(lab.run("remove", "-n", "acme", "-f"))
    ok(lab.run("add", "-n", "other", "-v", "100", "-i", "10.100.0.0/24"))  # takes acme's VLAN and subnet
    before, mark = proxmox_state(lab), lab.mark()
    taken = lab.run("restore", "--file", str(path))
    assert taken.exit_code == 1 and "VLAN 100 is already in use" in taken.stderr and "--new-vlan auto" in taken.stderr
    overlap = lab.run("restore", "--file", str(path), "--new-vlan", "auto")
    assert overlap.exit_code == 1 and "overlaps tenant other's subnet" in overlap.stderr and "--new-subnet" in overlap.stderr
    bad = lab.run("restore", "--file", str(path), "--new-vlan", "vlan7")
    assert bad.exit_code == 2 and "--new-vlan 'vlan7'" in bad.stderr

    plan = json.loads(ok(lab.run("restore", "--file", str(path), "--new-vlan", "auto", "--new-subnet", "auto",
                                 "--dry-run", "--json")).stdout)
    assert plan["dry_run"] and plan["command"] == "restore" and plan["tenant"] == "acme"
    assert "vn101" in json.dumps(plan["steps"]) and "10.100.1.0/24" in json.dumps(plan["steps"])
    assert writes_since(lab, mark) == [] and proxmox_state(lab) == before  # the dry run wrote nothing either
    assert not (lab.dir / "etc-pve" / "tenants" / "acme.toml").exists()

    events = tmp_path / "events.jsonl"
    restored = ok(lab.run("restore", "--file", str(path), "--new-vlan", "auto", "--new-subnet", "auto",
                          env={"TENCTL_EXAMPLE_EVENTS": str(events)}))
    assert "VLAN 101" in restored.stdout and "subnet 10.100.1.0/24" in restored.stdout
    assert vnet_and_subnet(lab, "vn101") == (101, ["tenants-10.100.1.0-24"])
    assert ("/sdn/zones/tenants/vn101", "PVESDNUser") in group_acl(lab, "group_acme")
    assert lab.pve.lab_users["admin_acme@pve"]["email"] == "ops@acme.example"
    kept = record(lab, "acme")
    assert (kept["vlan"], kept["subnet"], kept["gateway"], kept["cpu_limit"]) == (101, "10.100.1.0/24", "10.100.1.1", 3)
    [event] = [json.loads(line) for line in events.read_text().splitlines()]
    assert (event["command"], event["tenant"], event["outcome"]) == ("restore", "acme", "success")
    assert {"vlan": 101, "subnet": "10.100.1.0/24", "admin_user": "admin_acme@pve"}.items() <= event["details"].items()

    # Under another name, with the VLAN and subnet given: a second tenant from the same archive.
    ok(lab.run("restore", "--file", str(path), "--new-name", "acme2", "--new-vlan", "150", "--new-subnet", "10.100.50.0/24"))
    assert "tenant_acme2" in lab.pve.pools and "admin_acme2@pve" in lab.pve.lab_users
    assert vnet_and_subnet(lab, "vn150") == (150, ["tenants-10.100.50.0-24"])
    assert group_acl(lab, "group_acme2") == sorted(
        [("/pool/tenant_acme2", "TenctlTenant"), ("/sdn/zones/tenants/vn150", "PVESDNUser"), ("/storage/local-lvm", "PVEDatastoreUser")]
    )
    assert record(lab, "acme2")["created_date"] == record(lab, "acme")["created_date"]


def test_remove_backup_backs_up_first_and_removes_nothing_when_it_cannot(cluster, tmp_path):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("add", "-n", "beta"))
    removed = ok(lab.run("remove", "-n", "acme", "-f", "-b"))
    [written] = sorted((lab.dir / "backups").iterdir())  # paths.backup_dir of the lab's configuration
    assert written.name.startswith("acme_") and stat.S_IMODE(written.stat().st_mode) == 0o600
    assert f"backup of tenant acme written to {written}" in removed.stdout
    assert "tenant_acme" not in lab.pve.pools

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    before, mark = proxmox_state(lab), lab.mark()
    failed = lab.run("remove", "-n", "beta", "-f", "--backup-dir", str(blocked / "backups"))
    assert failed.exit_code == 1 and "cannot write a backup of tenant beta" in failed.stderr
    assert writes_since(lab, mark) == [] and proxmox_state(lab) == before
    assert record(lab, "beta")["status"] == "active" and not record(lab, "beta")["journal"]
    dry = ok(lab.run("remove", "-n", "beta", "-b", "--dry-run"))
    assert "is backed up to" in dry.stdout and not list(lab.dir.glob("backups/beta_*"))


def test_the_bash_tools_backup_loop_works_verbatim(cluster, tmp_path):
    """The loop of the Bash tool's operations guide, run by bash with the installed tenctl-list and
    tenctl-backup. With jq where it is installed; else (said in the output) a python stand-in for it. As root
    with unshare, the loop's own /var/backups/tenctl is a directory of the test's (a private mount namespace
    binds it), so the line runs unchanged; elsewhere the directory in the line is the test's."""
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("add", "-n", "Beta_2"))
    loop = (
        "for tenant in $(tenctl-list --json | jq -r '.[].tenant_name'); do\n"
        '    tenctl-backup -n "$tenant" --output /var/backups/tenctl\n'
        "done\n"
    )
    scripts = Path(sys.executable).parent
    assert (scripts / "tenctl-backup").exists() and (scripts / "tenctl-list").exists()
    env = {**lab.env, "PATH": f"{scripts}:{os.environ.get('PATH', '')}"}
    if shutil.which("jq") is None:
        print("jq is not installed: a python stand-in reads the JSON instead")
        stand_in = tmp_path / "bin" / "jq"
        stand_in.parent.mkdir()
        stand_in.write_text(f"#!{sys.executable}\nimport json, sys\nfor row in json.load(sys.stdin):\n    print(row['tenant_name'])\n")
        stand_in.chmod(0o755)
        env["PATH"] = f"{stand_in.parent}:{env['PATH']}"
    mounted = tmp_path / "var-backups"
    mounted.mkdir()
    if os.geteuid() == 0 and shutil.which("unshare") and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True, check=False
    ).returncode == 0:
        command = ["unshare", "-m", "bash", "-ec", f"mount --bind {mounted} /var/backups\n{loop}"]
    else:
        print("no private mount namespace here: the loop writes to the test's directory")
        command = ["bash", "-ec", loop.replace("/var/backups", str(mounted))]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (done.stdout, done.stderr)
    written = [re.fullmatch(r"(.+)_\d{8}_\d{6}\.tar\.gz", p.name) for p in (mounted / "tenctl").iterdir()]
    assert sorted(match.group(1) for match in written if match) == ["Beta_2", "acme"]
    assert ok(lab.run("backup", "--all", "--json")) and len(list((lab.dir / "backups").iterdir())) == 2


def test_a_backup_is_made_when_the_router_cannot_be_read_and_says_so(lab, tmp_path):
    config = lab.edge_config("api")

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    ok(run("vyos", "configure", *WAN, "--force"))
    ok(run("add", "-n", "acme"))
    lab.vyos.api_unreachable()
    done = ok(run("backup", "-n", "acme", "-o", str(tmp_path)))
    assert "the vyos-edge layer could not be read" in done.stderr
    layer = json.loads(members_of(archive_of(done))["providers/vyos-edge.json"])
    assert layer["observed"] == [] and layer["unread"] and {o["kind"] for o in layer["intended"]} == {"vif", "nat", "member"}


def test_a_restore_onto_an_inventory_without_the_tenants_site_is_refused_unless_sites_are_chosen(lab, tmp_path):
    config = full_config(lab)
    ok(lab.run("--config", str(config), "init"))
    ok(lab.run("--config", str(config), "add", "-n", "acme"))
    path = archive_of(ok(lab.run("--config", str(config), "backup", "-n", "acme", "-o", str(tmp_path))))
    ok(lab.run("--config", str(config), "remove", "-n", "acme", "-f"))
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    data["switches"]["sites"] = [s for s in data["switches"]["sites"] if s["name"] == "site-a"]
    smaller = tmp_path / "site-a-only.toml"
    smaller.write_text(tomli_w.dumps(data), encoding="utf-8")
    mark = lab.mark()
    refused = lab.run("--config", str(smaller), "restore", "--file", str(path))
    assert refused.exit_code == 2 and "site(s) site-b, which the [switches] inventory does not have" in refused.stderr
    assert "--site" in refused.stderr and writes_since(lab, mark) == []
    assert all(100 not in switch.vlans() for switch in lab.switches.values())
    ok(lab.run("--config", str(smaller), "restore", "--file", str(path), "--site", "site-a"))
    assert {name for name, switch in lab.switches.items() if 100 in switch.vlans()} == {"sw-a1", "sw-a2"}
    assert record(lab, "acme")["plugins"]["switch-vlans"]["sites"] == ["site-a"]
