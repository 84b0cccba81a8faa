# SPDX-License-Identifier: MIT
"""A behaviour conformance kit for tenctl providers: what every backend must do, checked on its peer.

A backend's test suite subclasses :class:`ProviderConformance` and provides a ``peer`` fixture: the
system the provider changes (a simulated Proxmox, router or switch), driven through tenctl's own
command line, with fault injection. The kit then checks, through the real CLI:

* ``add`` then ``remove`` leaves the peer as it was;
* a failure at any request of ``add`` is undone: the peer is as before and no record is left (a request
  whose failure the provider can do without, such as logging out after the change was saved, may let
  ``add`` succeed: then the tenant must be whole and healthy);
* ``sync`` run twice changes nothing the second time;
* an object of the provider changed or deleted behind tenctl's back is named by ``health`` and put
  back by ``sync``;
* the answer to any request of ``add`` lost (the peer applied it), then ``repair --all``: the tenant is
  whole or absent, ``health`` is clean, and removing it leaves the peer as before;
* the command killed (SIGKILL) while a request is in flight at seeded points: the same;
* ``backup``, ``remove`` and ``restore`` give the peer back as it was, and ``health`` is clean.

Usage::

    from tenctl_core.testing import ProviderConformance

    class TestMyProvider(ProviderConformance):
        provider = "my-provider"

        @pytest.fixture
        def peer(self, lab):
            ...  # an initialised peer (``tenctl init`` done), see :class:`Peer`

        def snapshot(self, peer):
            return ...  # the peer's state this provider changes, comparable with ==

        def make_drift(self, peer, tenant):
            ...  # change or delete one of the tenant's objects of this provider behind tenctl's back

This module is MIT-licensed like the rest of the core distribution; it imports pytest only when used.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from typing import Any, ClassVar, Protocol

WAIT = 60.0
"""Seconds any wait on the peer may take before the kit calls it a failure."""


class Result(Protocol):
    exit_code: int
    stdout: str
    stderr: str


class Peer(Protocol):
    """What the kit needs from a peer: run tenctl against it, count its requests, inject faults."""

    def run(self, *args: str) -> Result:
        """Run ``tenctl ARGS`` against the peer and wait for it."""

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start ``tenctl ARGS`` against the peer in a child process."""

    def mark(self) -> int:
        """A position in the peer's request count."""

    def requests_since(self, mark: int) -> int:
        """Requests the peer answered since mark."""

    def fail_nth(self, k: int) -> None:
        """Refuse the k-th request from now with an error."""

    def lose_nth(self, k: int) -> None:
        """Apply the k-th request from now, then drop its answer."""

    def hold_nth(self, k: int, seconds: float) -> None:
        """Hold the k-th request from now for `seconds` before it is applied."""

    def holding(self) -> int:
        """How many requests the peer holds right now."""

    def clear_faults(self) -> None:
        """Forget every planned fault."""

    def settle(self) -> None:
        """Wait until the peer answered every request in flight (bounded)."""


def succeeded(result: Result) -> Result:
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


class ProviderConformance:
    """The behaviour every provider must show; subclass it in the provider's test suite."""

    provider: ClassVar[str]
    """The provider's name, as it appears in plans."""
    tenant: ClassVar[str] = "conform"
    add_args: ClassVar[tuple[str, ...]] = ()
    """Extra options for ``tenctl add`` (``--site``, a storage...)."""
    kill_points: ClassVar[int] = 4
    seed: ClassVar[int] = 6

    # ------------------------------------------------------------ what the subclass gives

    def snapshot(self, peer: Any) -> Any:
        raise NotImplementedError("the conformance subclass must say how to read its peer's state")

    def make_drift(self, peer: Any, tenant: str) -> None:
        raise NotImplementedError("the conformance subclass must say how to change an object behind tenctl")

    # -------------------------------------------------------------------------- helpers

    def add(self) -> tuple[str, ...]:
        return ("add", "-n", self.tenant, *self.add_args)

    def remove(self) -> tuple[str, ...]:
        return ("remove", "-n", self.tenant, "-f")

    def requests_of_add(self, peer: Any) -> int:
        """How many requests a successful add makes; the peer is put back afterwards."""
        mark = peer.mark()
        succeeded(peer.run(*self.add()))
        total = int(peer.requests_since(mark))
        succeeded(peer.run(*self.remove()))
        return total

    def tenant_exists(self, peer: Any) -> bool:
        shown = peer.run("show", "-n", self.tenant, "--json")
        return shown.exit_code == 0

    def assert_converged(self, peer: Any, before: Any, where: object) -> None:
        """After repair: no journal, healthy, and (removed if present) the peer as before."""
        health = peer.run("health", "--json")
        assert health.exit_code == 0, (where, health.stdout, health.stderr)
        if self.tenant_exists(peer):
            succeeded(peer.run(*self.remove()))
        assert self.snapshot(peer) == before, where

    # ---------------------------------------------------------------------------- tests

    def test_the_provider_takes_part_in_add_and_a_dry_run_changes_nothing(self, peer: Any) -> None:
        before = self.snapshot(peer)
        plan = json.loads(succeeded(peer.run(*self.add(), "--dry-run", "--json")).stdout)
        assert any(step["provider"] == self.provider for step in plan["steps"]), plan
        assert all(step["id"] and step["op"] for step in plan["steps"]), plan
        assert self.snapshot(peer) == before

    def test_add_then_remove_leaves_the_peer_as_before(self, peer: Any) -> None:
        before = self.snapshot(peer)
        succeeded(peer.run(*self.add()))
        assert self.snapshot(peer) != before, "add changed nothing on the peer"
        succeeded(peer.run(*self.remove()))
        assert self.snapshot(peer) == before

    def test_a_failure_at_any_request_of_add_is_undone(self, peer: Any) -> None:
        total = self.requests_of_add(peer)
        before = self.snapshot(peer)
        failed = 0
        for k in range(1, total + 1):
            peer.fail_nth(k)
            result = peer.run(*self.add())
            peer.clear_faults()
            assert "Traceback" not in result.stderr, (k, result.stderr)
            if result.exit_code == 0:  # the provider could do without that request: the tenant is whole
                succeeded(peer.run("health"))
                succeeded(peer.run(*self.remove()))
                assert self.snapshot(peer) == before, k
                continue
            failed += 1
            assert result.exit_code == 1, (k, result.stdout, result.stderr)
            assert "COULD NOT BE UNDONE" not in result.stderr, (k, result.stderr)
            assert self.snapshot(peer) == before, k
            assert not self.tenant_exists(peer), k
        assert failed >= total // 2, f"only {failed} of {total} refused requests made add fail"

    def test_sync_twice_changes_nothing_the_second_time(self, peer: Any) -> None:
        succeeded(peer.run(*self.add()))
        succeeded(peer.run("sync", "--all"))
        after = self.snapshot(peer)
        again = json.loads(succeeded(peer.run("sync", "--all", "--json")).stdout)
        assert [s for plan in again for s in plan["steps"]] == [], again
        assert self.snapshot(peer) == after

    def test_drift_is_named_by_health_and_put_back_by_sync(self, peer: Any) -> None:
        succeeded(peer.run(*self.add()))
        whole = self.snapshot(peer)
        self.make_drift(peer, self.tenant)
        assert self.snapshot(peer) != whole, "make_drift changed nothing"
        health = peer.run("health", "--json")
        assert health.exit_code == 1, health.stdout
        assert self.tenant in health.stdout
        succeeded(peer.run("sync", "-n", self.tenant))
        assert self.snapshot(peer) == whole
        succeeded(peer.run("health"))

    def test_a_lost_answer_at_any_request_of_add_converges_after_repair(self, peer: Any) -> None:
        total = self.requests_of_add(peer)
        before = self.snapshot(peer)
        for k in range(1, total + 1):
            peer.lose_nth(k)
            result = peer.run(*self.add())
            peer.clear_faults()
            assert "Traceback" not in result.stderr, (k, result.stderr)
            succeeded(peer.run("repair", "--all"))
            self.assert_converged(peer, before, k)
            succeeded(peer.run(*self.add()))  # and the same command works again
            succeeded(peer.run(*self.remove()))

    def test_a_kill_at_seeded_requests_of_add_converges_after_repair(self, peer: Any) -> None:
        total = self.requests_of_add(peer)
        before = self.snapshot(peer)
        points = sorted(random.Random(self.seed).sample(range(1, total + 1), min(self.kill_points, total)))
        for k in points:
            peer.hold_nth(k, 0.5)
            proc = peer.start(*self.add())
            try:
                deadline = time.monotonic() + WAIT
                while not peer.holding() and proc.poll() is None:
                    assert time.monotonic() < deadline, f"request {k} never arrived"
                    time.sleep(0.002)
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=WAIT)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                peer.clear_faults()
            peer.settle()
            succeeded(peer.run("repair", "--all"))
            self.assert_converged(peer, before, ("kill", k))

    def test_backup_remove_restore_gives_the_peer_back(self, peer: Any, tmp_path: Any) -> None:
        succeeded(peer.run(*self.add()))
        whole = self.snapshot(peer)
        [written] = json.loads(
            succeeded(peer.run("backup", "-n", self.tenant, "-o", str(tmp_path), "--json")).stdout
        )
        succeeded(peer.run(*self.remove()))
        assert self.snapshot(peer) != whole, "remove changed nothing on the peer"
        succeeded(peer.run("restore", "--file", written["file"]))
        assert self.snapshot(peer) == whole
        succeeded(peer.run("health"))
