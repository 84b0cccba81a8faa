"""A simulated Arista EOS switch for the lab: a configuration model with config sessions and commit timers,
served over eAPI (JSON-RPC ``runCmds`` over HTTPS) so that napalm's ``eos`` driver drives it unchanged.
Importing this package imports no aiohttp; ``EosSwitch.start()`` does."""

from .config import CliError, SwitchConfig
from .device import EosSwitch, factory_config

__all__ = ["CliError", "EosSwitch", "SwitchConfig", "factory_config"]
