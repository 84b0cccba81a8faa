"""Every mutating command prints one JSON result with --json when it applies, not only with --dry-run."""

from __future__ import annotations

import json

from conftest import ok


def test_modify_suspend_resume_remove_print_a_json_result(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    for args, command in (
        (("modify", "-n", "acme", "-c", "6", "-f", "--json"), "modify"),
        (("suspend", "-n", "acme", "--json"), "suspend"),
        (("resume", "-n", "acme", "--json"), "resume"),
        (("remove", "-n", "acme", "-f", "--json"), "remove"),
    ):
        result = json.loads(ok(lab.run(*args)).stdout)
        assert result["command"] == command and result["tenant"] == "acme", result
        assert result["outcome"] == "success" and result["steps"], result
        assert all(step["id"] and step["op"] and step["action"] for step in result["steps"]), result
    assert "tenant_acme" not in lab.pve.pools


def test_a_command_with_nothing_to_do_says_so_in_json(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("suspend", "-n", "acme"))
    again = json.loads(ok(lab.run("suspend", "-n", "acme", "--json")).stdout)
    assert again["outcome"] == "unchanged" and again["steps"] == [] and again["tenant"] == "acme"
