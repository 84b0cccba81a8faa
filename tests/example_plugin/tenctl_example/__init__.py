"""An example third-party tenctl plugin: an allocator, a check, an event listener, a VLAN reporter."""

__version__ = "0.3.1"
