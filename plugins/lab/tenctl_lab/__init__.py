"""tenctl-lab: a simulated Proxmox VE cluster on loopback for trying and testing tenctl.

Modules: ``pve`` (LabPve, the stateful fake), ``server`` (the lab process), ``lab`` (up/down/status),
``cli`` (``tenctl lab``), ``pytest_plugin`` (fixtures), ``plugin`` (the tenctl entry point), ``vyos`` and
``switch`` (the simulated VyOS router and Arista EOS switches).
Nothing is imported here, so loading the plugin costs nothing.
"""

__version__ = "0.2.0"
