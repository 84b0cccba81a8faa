"""tenctl plugin: Tenant VLANs pushed to the site's physical switches with napalm."""

__version__ = "0.2.0"
