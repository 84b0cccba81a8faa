"""Property tests of the command line's input checks: any invalid tenant name, limit, VLAN, CIDR, email,
user id or free-text reason is refused with exit code 2 and a message naming the field, before any request.

The command line runs in-process (typer's CliRunner) against the session lab, for speed. Each refusal
leaves one line in the audit trail, which says so.
"""

from __future__ import annotations

import ipaddress

import pytest
from conftest import audit_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tenctl_core import naming, validation
from tenctl_core.cli import make_app
from tenctl_core.plugins import get_plugin_manager

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def cli(lab_session):
    """Run `tenctl ARGS` in-process against the session lab; returns (result, requests the lab served, the
    lines it added to the audit trail)."""
    app = make_app(get_plugin_manager())
    runner = CliRunner()
    env = {"TENCTL_CONFIG": str(lab_session.config), "TENCTL_NODE": "pve1", "TENCTL_PROFILE": None}

    def run(*args: str):
        mark = lab_session.mark()
        audit_before = len(audit_events(lab_session))
        result = runner.invoke(app, list(args), env=env)
        return result, lab_session.requests_since(mark), audit_events(lab_session)[audit_before:]

    return run


def refused(cli, field: str, *args: str) -> None:
    result, requests, audited = cli(*args)
    assert result.exit_code == 2, (args, result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith("error: "), (args, result.stderr)
    assert field in result.stderr, (args, field, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert requests == 0, (args, "the lab served requests for an invalid input")
    # One line in the audit trail: the command was refused.
    assert [(e["command"], e["outcome"], e["exit_code"]) for e in audited] == [(args[0], "refused", 2)], audited


# --------------------------------------------------------------------------- strategies

# Text that shells, VyOS or switch CLIs treat specially, mixed into arbitrary text.
NASTY = st.sampled_from(
    [
        "'",
        '"',
        "`",
        "$(",
        "$(id)",
        ")",
        ";",
        "|",
        "&",
        "\n",
        "\r",
        "\t",
        "\\",
        "{",
        "}",
        "<",
        ">",
        "*",
        "é",
        "ß",
        "Ω",
        "中",
        "🙂",
        "\u200b",
        "\x00",
        "\x7f",
        "#",
        "!",
        "=",
        "%",
        "~",
        "[",
        "]",
    ]
)
MIXED_TEXT = st.lists(st.one_of(st.text(max_size=8), NASTY), max_size=8).map("".join)


def is_valid_name(name: str) -> bool:
    return 0 < len(name) <= naming.TENANT_NAME_MAX and naming.TENANT_NAME_RE.fullmatch(name) is not None


invalid_names = st.one_of(
    MIXED_TEXT,
    st.from_regex(r"[a-z][a-z0-9_-]{32,60}", fullmatch=True),  # too long
    st.from_regex(r"[0-9_-][a-z0-9_-]{0,10}", fullmatch=True),  # bad first character
    st.from_regex(r"[a-z][a-z0-9]{0,5}[A-Z. @/:][a-z0-9]{0,5}", fullmatch=True),  # one bad character
    st.just(""),
).filter(lambda n: not is_valid_name(n))


def out_of_range(low: int, high: int):
    return st.one_of(
        st.integers(max_value=low - 1),
        st.integers(min_value=high + 1),
        st.sampled_from([low - 1, high + 1, -(2**63), 2**63, 10**30]),
    ).filter(lambda v: not low <= v <= high)


def is_valid_cidr(value: str) -> bool:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return False
    return "/" in value and network.prefixlen <= 30


octet = st.integers(0, 300).map(str)
ipish = st.tuples(octet, octet, octet, octet).map(".".join)
invalid_cidrs = st.one_of(
    MIXED_TEXT,
    ipish,  # no prefix length
    st.tuples(ipish, st.integers(-5, 40)).map(
        lambda t: f"{t[0]}/{t[1]}"
    ),  # host bits, bad or too long prefix
    st.sampled_from(
        [
            "10.0.0.0/31",
            "10.0.0.0/32",
            "10.0.0.1/24",
            "fd00::/64",
            "10.0.0.0/24 ",
            " 10.0.0.0/24",
            "10.0.0.0/24;id",
            "10.0.0.0/24\n",
            "0x0a000000/24",
            "10.0.0/24",
        ]
    ),
).filter(lambda v: not is_valid_cidr(v))


def is_valid_email(value: str) -> bool:
    return len(value) <= validation.EMAIL_MAX and validation.EMAIL_RE.fullmatch(value) is not None


invalid_emails = st.one_of(
    MIXED_TEXT,
    st.tuples(MIXED_TEXT, MIXED_TEXT).map(lambda t: f"{t[0]}@{t[1]}"),
    st.tuples(st.from_regex(r"[a-z]{1,10}", fullmatch=True), NASTY).map(
        lambda t: f"{t[0]}{t[1]}@example.org"
    ),
    st.from_regex(r"[a-z]{250,260}@example\.org", fullmatch=True),  # too long
    st.sampled_from(
        [
            "ops@",
            "@example.org",
            "ops@example",
            "ops@-example.org",
            "ops@example..org",
            "ops@example.org\n",
            "ops@example.org'",
            "ops@exa mple.org",
            "$(id)@example.org",
        ]
    ),
).filter(lambda v: not is_valid_email(v))


def is_valid_text(value: str) -> bool:
    return len(value) <= validation.TEXT_MAX and validation.TEXT_RE.fullmatch(value) is not None


invalid_reasons = st.one_of(
    MIXED_TEXT,
    st.tuples(st.from_regex(r"[A-Za-z ]{0,20}", fullmatch=True), NASTY, st.text(max_size=10)).map("".join),
    st.from_regex(r"[a-z ]{201,260}", fullmatch=True),  # too long
).filter(lambda v: not is_valid_text(v))


def is_valid_userid(value: str) -> bool:
    user, at, realm = value.rpartition("@")
    return (
        bool(at)
        and naming.USER_NAME_RE.fullmatch(user) is not None
        and naming.REALM_RE.fullmatch(realm) is not None
        and len(value) <= naming.USERID_MAX
    )


invalid_userids = st.one_of(
    MIXED_TEXT,
    st.tuples(MIXED_TEXT, MIXED_TEXT).map(lambda t: f"{t[0]}@{t[1]}"),
    st.from_regex(r"[a-z]{60,70}@pve", fullmatch=True),
).filter(lambda v: not is_valid_userid(v))


# ------------------------------------------------------------------------------ tests


@SETTINGS
@given(name=invalid_names, command=st.sampled_from(["add", "show", "remove", "modify", "suspend", "resume"]))
def test_invalid_tenant_names_are_refused(cli, name, command):
    extra = ["--cpu=2"] if command == "modify" else []
    refused(cli, "tenant name", command, f"--name={name}", *extra)


LIMITS = [
    ("--cpu", "CPU limit", validation.CPU_MIN, validation.CPU_MAX),
    ("--ram", "RAM limit", validation.RAM_MIN_MB, validation.RAM_MAX_MB),
    ("--storage", "storage limit", validation.STORAGE_MIN_GB, validation.STORAGE_MAX_GB),
]


@pytest.mark.parametrize("option, field, low, high", LIMITS, ids=[x[0] for x in LIMITS])
def test_out_of_range_limits_are_refused(cli, option, field, low, high):
    @SETTINGS
    @given(value=out_of_range(low, high), command=st.sampled_from(["add", "modify"]))
    def check(value, command):
        refused(cli, field, command, "--name=acme", f"{option}={value}")

    check()


@SETTINGS
@given(vlan=out_of_range(validation.VLAN_MIN, validation.VLAN_MAX))
def test_out_of_range_vlans_are_refused(cli, vlan):
    refused(cli, "VLAN", "add", "--name=acme", f"--vlan={vlan}")


@SETTINGS
@given(cidr=invalid_cidrs)
def test_invalid_subnets_are_refused(cli, cidr):
    refused(cli, "subnet", "add", "--name=acme", f"--subnet={cidr}")


@SETTINGS
@given(email=invalid_emails, command=st.sampled_from(["add", "modify"]))
def test_invalid_emails_are_refused(cli, email, command):
    refused(cli, "email", command, "--name=acme", f"--email={email}")


@SETTINGS
@given(reason=invalid_reasons)
def test_invalid_suspension_reasons_are_refused(cli, reason):
    refused(cli, "suspension reason", "suspend", "--name=acme", f"--reason={reason}")


@SETTINGS
@given(userid=invalid_userids)
def test_invalid_admin_user_ids_are_refused(cli, userid):
    refused(cli, "user id", "add", "--name=acme", f"--user={userid}")


def test_valid_values_pass_the_checks(cli):
    """The filters above are not vacuous: values they call valid get past the input checks."""
    assert is_valid_name("acme-1_x") and is_valid_cidr("10.9.0.0/24") and is_valid_email("ops@acme.example")
    assert is_valid_text("unpaid invoice (2024/05)") and is_valid_userid("boss@pve")
    result, requests, _ = cli(
        "add",
        "--name=acme",
        "--dry-run",
        "--cpu=2",
        "--vlan=150",
        "--subnet=10.9.0.0/24",
        "--email=ops@acme.example",
        "--user=boss@pve",
    )
    # Past the input checks the command talks to the lab (the session lab may lack the zone: exit 1 then).
    assert result.exit_code in (0, 1), result.stderr
    assert requests > 0
