"""netmiko's own `vyos` driver against the lab router over SSH, with strict host key checking."""

import time

import pytest

netmiko = pytest.importorskip("netmiko")


def connect(lab, **extra):
    info = lab.vyos_info
    return netmiko.ConnectHandler(
        device_type="vyos",
        host=info["host"],
        port=info["ssh_port"],
        username=info["user"],
        password=info["password"],
        ssh_strict=True,
        system_host_keys=False,
        alt_host_keys=True,
        alt_key_file=info["known_hosts"],
        **extra,
    )


def prompt_checked(conn):
    """netmiko's stock check_config_mode waits ~2 s for silence; look for the prompt instead."""
    stock = conn.check_config_mode

    def check_config_mode(check_string="#", pattern="", force_regex=False):
        return stock(check_string=check_string, pattern=r"[#$]\s*$")

    conn.check_config_mode = check_config_mode
    return conn


def test_stock_flow_set_commit_save_exit_show(lab):
    started = time.monotonic()
    conn = connect(lab)
    try:
        conn.send_config_set(
            [
                "set interfaces ethernet eth1 vif 100 address 10.100.0.1/24",
                "set interfaces ethernet eth1 vif 100 description 'tenant acme'",
                "set nat source rule 100 source address 10.100.0.0/24",
                "set nat source rule 100 outbound-interface name eth0",
                "set nat source rule 100 translation address masquerade",
            ],
            error_pattern="Set failed",
        )
        conn.commit()
        assert "Done" in conn.save_config()
        conn.exit_config_mode()
        shown = conn.send_command("show configuration commands")
    finally:
        conn.disconnect()
    elapsed = time.monotonic() - started
    print(f"stock netmiko flow: {elapsed:.1f} s")
    assert "set interfaces ethernet eth1 vif 100 description 'tenant acme'" in shown.splitlines()
    assert "set nat source rule 100 translation address 'masquerade'" in shown.splitlines()
    assert shown.splitlines() == lab.vyos.running_commands()
    assert lab.vyos.saved_commands() == lab.vyos.running_commands()
    commands = [line["command"] for line in lab.vyos_log()]
    assert commands[:2] == ["set terminal width 512", "set terminal length 0"]
    assert {"configure", "commit", "save", "exit", "show configuration commands"} <= set(commands)
    assert lab.vyos_info["password"] not in lab.vyos.log_path.read_text()


def test_error_patterns_catch_set_failed_and_commit_failed(lab):
    conn = prompt_checked(connect(lab))
    try:
        with pytest.raises(netmiko.ConfigInvalidException, match="vif 99999"):
            conn.send_config_set(
                ["set interfaces ethernet eth1 vif 99999 address 10.9.0.1/24"], error_pattern="Set failed"
            )
        conn.send_config_set(["set nat source rule 7 source address 10.7.0.0/24"], error_pattern="failed")
        with pytest.raises(ValueError, match="Commit failed"):
            conn.commit()
        conn.exit_config_mode()  # uncommitted changes: netmiko answers "Cannot exit" with "exit discard"
        assert not conn.check_config_mode()
    finally:
        conn.disconnect()
    assert "nat" not in lab.vyos.running_tree()


def test_a_wrong_host_key_is_refused(lab):
    lab.vyos.serve_wrong_host_key()
    with pytest.raises(Exception, match="(?i)host key|not found in known_hosts|BadHostKey"):
        connect(lab)
    lab.vyos.serve_wrong_host_key(False)
    connect(lab).disconnect()


def test_a_wrong_password_is_refused(lab):
    info = lab.vyos_info
    with pytest.raises(netmiko.NetmikoAuthenticationException):
        netmiko.ConnectHandler(  # noqa: S106
            device_type="vyos",
            host=info["host"],
            port=info["ssh_port"],
            username="vyos",
            password="wrong",
            ssh_strict=True,
            system_host_keys=False,
            alt_host_keys=True,
            alt_key_file=info["known_hosts"],
        )


@pytest.mark.parametrize("applied", [True, False])
def test_dropped_on_commit_after_or_before_applying(lab, applied):
    lab.vyos.drop_ssh_on("commit", applied=applied)
    conn = prompt_checked(connect(lab))
    conn.send_config_set(["set system name-server 192.0.2.53"], error_pattern="failed")
    with pytest.raises((OSError, EOFError, netmiko.ReadException, netmiko.NetmikoTimeoutException)):
        conn.commit(read_timeout=5)
    conn.disconnect()
    assert ("name-server" in lab.vyos.running_tree()["system"]) is applied
    assert lab.vyos_log()[-1]["outcome"] == ("dropped after applying" if applied else "dropped")


def test_drop_after_k_commands_and_slow_answers(lab):
    conn = connect(lab)
    lab.vyos.slow(0.4)
    started = time.monotonic()
    assert "VyOS 1.4" in conn.send_command("show version")
    assert time.monotonic() - started >= 0.4
    lab.vyos.slow(0)
    lab.vyos.drop_ssh_after(2)
    assert conn.send_command("show version")
    with pytest.raises((OSError, EOFError, netmiko.ReadException, netmiko.NetmikoTimeoutException)):
        conn.send_command("show version", read_timeout=5)
    conn.disconnect()


def test_refused_logins_are_logged_without_the_password(lab):
    info = lab.vyos_info
    with pytest.raises(netmiko.NetmikoAuthenticationException):
        netmiko.ConnectHandler(
            device_type="vyos",
            host=info["host"],
            port=info["ssh_port"],
            username="vyos",
            password="guessed-pw",
            ssh_strict=True,
            system_host_keys=False,
            alt_host_keys=True,
            alt_key_file=info["known_hosts"],
        )
    assert lab.vyos_log()[-1]["outcome"] == "refused"
    assert "guessed-pw" not in lab.vyos.log_path.read_text()
