"""An example third-party tenctl plugin: an allocator, an audit check, an event listener and a VLAN reporter."""

__version__ = "0.3.1"
