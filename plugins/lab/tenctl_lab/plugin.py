"""The lab's entry into tenctl: it adds the ``tenctl lab`` commands (loaded only when invoked)."""

from tenctl_core import hookimpl


@hookimpl
def tenctl_register_commands(register):
    register.add(
        "lab",
        help="Run a simulated Proxmox cluster on loopback for trying and testing tenctl.",
        loader="tenctl_lab.cli:app",
    )
