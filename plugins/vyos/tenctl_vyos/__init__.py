"""tenctl plugin: Edge router on VyOS (gateway, source NAT, inter-tenant firewall) over netmiko."""

__version__ = "0.1.0"
