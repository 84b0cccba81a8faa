"""The vyos plugin registers its edge backend without importing any device library."""

from tenctl_lab.conformance import ProviderRegistration


class TestVyosRegistration(ProviderRegistration):
    entry_point = "vyos"
    distribution = "tenctl-vyos"
    module = "tenctl_vyos.plugin"
    provider = "vyos-edge"
    kind = "edge"
    placeholder = False
