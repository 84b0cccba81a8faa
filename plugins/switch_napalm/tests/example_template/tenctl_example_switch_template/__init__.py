"""A switch template for a made-up platform, registered from outside tenctl (entry point group
``tenctl.switch_templates``, name ``example``)."""

import re

from tenctl_switch_napalm.templates import VlanIntent

NAME = re.compile(r"[a-z][a-z0-9-]{0,15}")
PORT = re.compile(r"port[1-9][0-9]?")


class ExampleTemplate:
    driver = "example"
    marker_in_config = True

    def check_name(self, name: str) -> None:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValueError(f"name: {name!r}: an example VLAN name is 1-16 of a-z 0-9 -, a letter first")

    def check_port(self, port: str) -> None:
        if not isinstance(port, str) or not PORT.fullmatch(port):
            raise ValueError(f"trunk_ports: {port!r}: an example port is port1 to port99")

    def _check(self, intent: VlanIntent) -> None:
        self.check_name(intent.name)
        for port in intent.trunk_ports:
            self.check_port(port)

    def add(self, intent: VlanIntent) -> str:
        self._check(intent)
        lines = [f"vlan {intent.vlan} name {intent.name} note {intent.marker}"]
        lines += [f"trunk {port} add {intent.vlan}" for port in intent.trunk_ports]
        return "\n".join(lines) + "\n"

    def remove(self, intent: VlanIntent) -> str:
        self._check(intent)
        lines = [f"trunk {port} remove {intent.vlan}" for port in intent.trunk_ports]
        return "\n".join([*lines, f"no vlan {intent.vlan}"]) + "\n"
