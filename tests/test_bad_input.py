"""Bad input is refused with a clear message, exit code 2, and no request to Proxmox."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenctl_core.errors import UsageError
from tenctl_core.naming import check_new_tenant_name, check_tenant_name
from tenctl_core.validation import check_cidr, check_email, check_text

BAD = [
    (("add", "-n", "acme corp"), "tenant name"),
    (("add", "-n", "Root"), "reserved"),
    (("add", "-n", "ADMIN"), "reserved"),
    (("add", "-n", "test"), "reserved"),
    (("add", "-n", "Pool"), "reserved"),
    (("add", "-n", "acme", "-v", "50"), "outside the configured ranges"),
    (("add", "-n", "acme", "-v", "1000"), "outside the configured ranges"),
    (("add", "-n", "acme", "-i", "127.0.0.0/24"), "loopback"),
    (("add", "-n", "acme", "-i", "224.1.0.0/24"), "multicast"),
    (("add", "-n", "acme", "-i", "169.254.10.0/24"), "link-local"),
    (("add", "-n", "acme", "-i", "0.0.0.0/24"), "0.0.0.0/8"),
    (("add", "-n", "acme", "-i", "255.255.255.0/24"), "broadcast"),
    (("add", "-n", "acme", "-i", "240.0.0.0/24"), "reserved"),
    (("init", "-t", "qinq", "--service-vlan", "5000"), "service VLAN"),
    (("init", "-t", "qinq", "--service-vlan", "x"), "service VLAN"),
    (("add", "-n", "a$(id)"), "tenant name"),
    (("add", "-n", "acme\nx"), "tenant name"),
    (("add", "-n", "ünï"), "tenant name"),
    (("add", "-n", "1acme"), "tenant name"),
    (("add", "-n", "x" * 33), "too long"),
    (("add", "-n", ""), "empty"),
    (("add", "-n", "acme", "-c", "0"), "CPU limit"),
    (("add", "-n", "acme", "-r", "100"), "RAM limit"),
    (("add", "-n", "acme", "-s", "-5"), "storage limit"),
    (("add", "-n", "acme", "-v", "5000"), "VLAN"),
    (("add", "-n", "acme", "-i", "10.0.0.5/24"), "subnet"),
    (("add", "-n", "acme", "-i", "10.0.0.0"), "subnet"),
    (("add", "-n", "acme", "-i", "not-a-cidr"), "subnet"),
    (("add", "-n", "acme", "-i", "10.0.0.0/31"), "subnet"),
    (("add", "-n", "acme", "-e", "bob"), "email"),
    (("add", "-n", "acme", "-e", "a'b@example.com"), "email"),
    (("add", "-n", "acme", "-e", "a@b.c;rm"), "email"),
    (("add", "-n", "acme", "-u", "root@pam:x"), "user id"),
    (("add", "-n", "acme", "-p", "short"), "password"),
    (("suspend", "-n", "acme", "--reason", 'x"; rm -rf /'), "reason"),
    (("suspend", "-n", "acme", "--reason", "x$(reboot)"), "reason"),
    (("suspend", "-n", "acme", "--reason", "line1\nline2"), "reason"),
    (("suspend", "-n", "acme", "--reason", "caf\u00e9"), "reason"),
    (("suspend", "-n", "acme", "--reason", "it's"), "reason"),
    (("modify", "-n", "acme", "-c", "-1", "--force"), "CPU limit"),
    (("modify", "-n", "acme", "--email", "x@", "--force"), "email"),
    (("remove", "-n", "../etc"), "tenant name"),
    (("show", "-n", "acme/../../x"), "tenant name"),
    (("init", "-z", "toolongzone"), "zone"),
    (("init", "-t", "evpnx"), "zone type"),
    (("init", "-t", "vxlan", "-p", "10.0.0.1,$(id)"), "peer"),
]


@pytest.mark.parametrize(("args", "word"), BAD, ids=[" ".join(a)[:40] for a, _ in BAD])
def test_bad_input_is_refused_before_any_request(shared_cluster, args, word):
    lab = shared_cluster
    mark = lab.mark()
    result = lab.run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert word.lower() in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.stderr
    assert lab.requests_since(mark) == 0


def test_unknown_config_key_is_named(lab, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(lab.config.read_text() + "\n[defaults]\ncpus = 4\n")
    result = lab.run("--config", str(config), "list")
    assert result.exit_code == 2 and "defaults.cpus" in result.stderr


# Property-based: every generated invalid value is refused by the checks the commands call first.

NAME_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(NAME_CHARS, min_size=0, max_size=40))
def test_tenant_name_rule(name):
    import re

    valid = re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,31}", name) is not None
    try:
        check_tenant_name(name)
    except UsageError as exc:
        assert not valid
        assert "tenant name" in str(exc)
    else:
        assert valid


RESERVED = {"root", "admin", "system", "test", "tmp", "default", "pool", "user", "group"}


@settings(max_examples=300)
@given(st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,24}", fullmatch=True))
def test_every_name_the_bash_tool_accepted_is_accepted(name):
    """The Bash tool took ^[a-zA-Z][a-zA-Z0-9_]*$ up to 25 characters, minus its reserved names."""
    assert check_tenant_name(name) == name
    if name.lower() in RESERVED:
        with pytest.raises(UsageError, match="reserved"):
            check_new_tenant_name(name)
    else:
        assert check_new_tenant_name(name) == name


@pytest.mark.parametrize("name", sorted(RESERVED | {n.upper() for n in RESERVED} | {"Root", "tMp"}))
def test_reserved_names_are_refused_in_any_case_for_new_tenants(name):
    with pytest.raises(UsageError, match="reserved"):
        check_new_tenant_name(name)
    assert check_tenant_name(name) == name  # a tenant 0.2 made under such a name stays reachable


@settings(max_examples=300)
@given(st.text(NAME_CHARS, max_size=60))
def test_free_text_never_lets_metacharacters_through(text):
    try:
        checked = check_text("reason", text)
    except UsageError:
        return
    assert not set(checked) & set("'\"`$;&|<>\\\n\r\t{}[]!#*?~=%^")
    assert checked.isascii()


@settings(max_examples=300)
@given(st.text(NAME_CHARS, max_size=60))
def test_email_check(value):
    try:
        checked = check_email(value)
    except UsageError:
        return
    assert "@" in checked and checked.isascii() and not set(checked) & set("'\"`$;&|<> \n")


@settings(max_examples=300)
@given(st.text(st.sampled_from("0123456789./:abx-"), max_size=20))
def test_cidr_check_accepts_only_networks(value):
    import ipaddress

    try:
        network = check_cidr(value)
    except UsageError:
        return
    assert ipaddress.IPv4Network(value, strict=True) == network and "/" in value
