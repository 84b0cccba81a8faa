"""tenctl plugin: each tenant's VLAN as a Proxmox SDN VNet with a subnet."""

__version__ = "0.2.0"
