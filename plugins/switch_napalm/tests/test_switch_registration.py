"""The switch_napalm plugin registers its network provisioner without importing any device library."""

from tenctl_lab.conformance import ProviderRegistration


class TestSwitchRegistration(ProviderRegistration):
    entry_point = "switch_napalm"
    distribution = "tenctl-switch-napalm"
    module = "tenctl_switch_napalm.plugin"
    provider = "switch-vlans"
    kind = "network"
    placeholder = False
