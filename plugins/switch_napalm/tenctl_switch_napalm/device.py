"""One switch through napalm, and many at once.

napalm is imported here only, when a switch is touched (``import napalm`` costs about half a second).
Each switch gets one connection per command, opened on first use and kept in the command's context; the
operations tenctl needs are reading the VLANs and the running configuration, and pushing a merge
(``load_merge_candidate`` → ``compare_config`` → ``commit_config`` with a commit timer where the driver
has one → ``confirm_commit`` once verified).

:func:`on_each` runs one function per switch in a bounded thread pool with a deadline per switch: a
slow or dead switch costs its own timeout, not one after the other.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from tenctl_core.errors import TenctlError
from tenctl_switch_napalm.settings import SiteSpec, SwitchSpec, read_password

log = logging.getLogger("tenctl.switches")
T = TypeVar("T")


class SwitchError(TenctlError):
    """A switch refused an operation or could not be reached; the message names the switch."""


@dataclass
class Switch:
    """A switch of the inventory and its one napalm connection for this command."""

    site: SiteSpec
    spec: SwitchSpec
    timeout: float
    _device: Any = None

    @property
    def name(self) -> str:
        return self.spec.name

    def optional_args(self) -> dict[str, Any]:
        """napalm's optional_args for the driver: port, transport and TLS trust (verified by default)."""
        spec = self.spec
        args: dict[str, Any] = {}
        if spec.port:
            args["port"] = spec.port
        if spec.driver == "eos":
            args["transport"] = spec.transport
            if spec.transport == "https":
                if spec.verify_tls:
                    args["context"] = ssl.create_default_context(cafile=spec.ca_file)
                else:
                    log.warning("TLS of switch %s is not verified (verify_tls = false)", spec.name)
                    args["context"] = ssl._create_unverified_context()  # noqa: S323 - asked for in config
        return args

    def device(self) -> Any:
        if self._device is not None:
            return self._device
        try:
            import napalm
        except ImportError:
            raise SwitchError(
                f"switch {self.name}: napalm is not installed (pip install 'napalm>=5.2'), a dependency of "
                "tenctl-switch-napalm"
            ) from None

        # pyeapi logs every socket error with its traceback before raising it; tenctl says what failed,
        # once, through SwitchError.
        logging.getLogger("pyeapi").setLevel(logging.CRITICAL)

        spec = self.spec
        try:
            driver = napalm.get_network_driver(spec.driver)
        except Exception:
            raise SwitchError(f"switch {spec.name}: napalm has no driver {spec.driver!r}") from None
        device = driver(
            hostname=spec.host,
            username=spec.user,
            password=read_password(spec),
            timeout=int(self.timeout),
            optional_args=self.optional_args(),
        )
        try:
            device.open()
        except Exception as exc:
            raise SwitchError(
                f"cannot reach switch {spec.name} ({spec.driver} at {spec.host}): {_reason(exc)}"
            ) from None
        self._device = device
        return device

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """A napalm call; its failure becomes a SwitchError naming the switch and what was being done."""
        device = self.device()
        try:
            return getattr(device, method)(*args, **kwargs)
        except Exception as exc:
            raise SwitchError(f"switch {self.name}: {what} failed: {_reason(exc)}") from None

    def vlans(self) -> dict[int, dict[str, Any]]:
        """VLAN id -> {name, interfaces} (napalm's get_vlans; its keys may be strings)."""
        found = self.call("reading the VLANs", "get_vlans")
        return {int(vlan): dict(attrs) for vlan, attrs in found.items()}

    def facts(self) -> dict[str, Any]:
        """napalm's get_facts, the part worth showing: hostname, vendor, model, os_version, serial_number."""
        found = self.call("reading the facts", "get_facts")
        return {k: found.get(k) for k in ("hostname", "vendor", "model", "os_version", "serial_number")}

    def running_config(self) -> str:
        return str(self.call("reading the running configuration", "get_config", retrieve="running")["running"])

    def stage(self, text: str) -> str:
        """Load text as a merge candidate and return the switch's own diff of it (nothing committed)."""
        self.call("loading the change", "load_merge_candidate", config=text)
        return str(self.call("comparing the change", "compare_config") or "")

    def commit(self, revert_in: int) -> None:
        """Commit the staged change, with the switch's commit timer when asked for (confirm() keeps it)."""
        if revert_in:
            self.call("committing", "commit_config", revert_in=revert_in)
        else:
            self.call("committing", "commit_config")

    def confirm(self) -> None:
        if self.call("asking for a pending commit", "has_pending_commit"):
            self.call("confirming the commit", "confirm_commit")

    def discard(self) -> None:
        try:
            self.call("discarding the change", "discard_config")
        except SwitchError as exc:
            log.warning("%s", exc)

    def close(self) -> None:
        if self._device is not None:
            try:
                self._device.close()
            except Exception:  # noqa: S110 - closing a session that may be gone
                pass
            self._device = None


def _reason(exc: BaseException) -> str:
    """The device's own words, on one line, without anything that looks like a credential."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:400]


def on_each(
    switches: Iterable[Switch], work: Callable[[Switch], T], concurrency: int
) -> dict[str, T | BaseException]:
    """work(switch) for every switch, at most `concurrency` at once; each result or the exception it
    raised, by switch name (the caller decides what a failure means)."""
    chosen = list(switches)
    if not chosen:
        return {}
    results: dict[str, T | BaseException] = {}
    with ThreadPoolExecutor(max_workers=min(concurrency, len(chosen)), thread_name_prefix="switch") as pool:
        futures = {switch.name: pool.submit(work, switch) for switch in chosen}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except Exception as exc:
                results[name] = exc
    return results
