"""The router's shell as text: prompts, `[edit]`, VyOS's messages (no SSH here; see test_vyos_ssh.py)."""

import pytest
from tenctl_lab.vyos import VyosRouter
from tenctl_lab.vyos.shell import Shell

OP = "vyos@vyos:~$ "
CONF = "[edit]\nvyos@vyos# "


@pytest.fixture
def shell():
    return Shell(VyosRouter())


def test_prompts_and_terminal_settings(shell):
    assert shell.prompt == OP
    assert shell.handle("set terminal width 512").output == ""
    assert shell.handle("set terminal length 0").output == ""
    assert shell.handle("configure").output == ""
    assert shell.prompt == CONF
    assert shell.handle("exit").output == "exit"
    assert shell.prompt == OP


def test_set_errors_are_framed_as_vyos_frames_them(shell):
    shell.handle("configure")
    reply = shell.handle("set interfaces ethernet eth1 vlan 5")
    assert reply.failed
    assert reply.output == (
        "\n  Configuration path: [interfaces ethernet eth1 vlan 5] is not valid\n  Set failed\n"
    )
    reply = shell.handle("delete interfaces ethernet eth1 vif 7")
    assert not reply.failed
    assert reply.output == "\n  Nothing to delete (the specified node does not exist)\n"


def test_exit_with_changes_needs_exit_discard(shell):
    shell.handle("configure")
    shell.handle("set system name-server 192.0.2.53")
    reply = shell.handle("exit")
    assert reply.failed and reply.output.startswith("Cannot exit: configuration modified.")
    assert shell.prompt == CONF
    assert shell.handle("exit discard").output == "exit"
    assert shell.prompt == OP
    assert "name-server" not in "\n".join(shell.router.running_commands())


def test_commit_save_compare_and_run(shell):
    shell.handle("configure")
    assert shell.handle("commit").output == "No configuration changes to commit"
    shell.handle("set interfaces ethernet eth1 vif 100 address 10.100.0.1/24")
    compare = shell.handle("compare").output
    assert compare.startswith("[edit interfaces ethernet eth1]\n+vif 100 {")
    assert "#" not in compare
    assert shell.handle("commit").output == ""
    assert shell.handle("save").output == "Saving configuration to '/config/config.boot'...\nDone"
    shown = shell.handle("run show configuration commands").output
    assert "set interfaces ethernet eth1 vif 100 address '10.100.0.1/24'" in shown.splitlines()
    shell.handle("set nat source rule 5 source address 10.100.0.0/24")
    reply = shell.handle("commit")
    assert reply.failed and reply.output.endswith("[[nat]] failed\nCommit failed")
    version = shell.handle("run show version").output
    assert version.startswith("Version:          VyOS 1.4")
    assert "#" not in version


def test_commit_confirm_asks_then_commits(shell):
    shell.handle("configure")
    shell.handle("set system name-server 192.0.2.53")
    question = shell.handle("commit-confirm 5")
    assert question.output.endswith("Proceed ? [Y/n] ")
    assert shell.prompt == ""
    answer = shell.handle("y")
    assert answer.output == "Initialized commit-confirm; 5 minutes to confirm before reload"
    assert shell.router.commit_confirm_pending()
    assert shell.handle("confirm").output == "Reload timer stopped"
    shell.handle("set system name-server 192.0.2.54")
    shell.handle("commit-confirm")
    assert shell.handle("n").output == "commit-confirm canceled"
    assert not shell.router.commit_confirm_pending()
