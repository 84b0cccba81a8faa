"""tenctl plugin: Edge router on VyOS (gateway, source NAT, inter-tenant firewall) over netmiko."""

__version__ = "0.2.0"
