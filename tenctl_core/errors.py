"""The errors tenctl raises, each with the exit code the command line ends with.

Every message names the object concerned and, where there is one, the fix. None
of them may carry a secret: they are printed and written to the audit trail.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class TenctlError(Exception):
    """Base of every error tenctl reports to its user."""

    exit_code = EXIT_FAILURE
    refusal = False
    """True for errors that decline the request before anything changes, because of the request itself or
    the cluster's policy (bad input, no room, a name taken, no such tenant): the audit trail records such
    a command as ``refused``, any other error as a ``failure``."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(TenctlError):
    """A value given by the user is invalid: nothing was changed."""

    exit_code = EXIT_USAGE
    refusal = True


class ConfigError(UsageError):
    """The configuration file or a value in it is invalid."""


class ArchiveError(UsageError):
    """A backup archive is unreadable, damaged, tampered with, or holds a value tenctl refuses: nothing was
    changed (``tenctl restore`` reads and checks the whole archive before its first request)."""


class PluginError(TenctlError):
    """A plugin failed to load or broke its contract."""


class NotFoundError(TenctlError):
    """A tenant or object that must exist does not."""

    refusal = True


class ConflictError(TenctlError):
    """The wanted object exists already or a value is taken."""

    refusal = True


class AllocationError(TenctlError):
    """No VLAN or subnet could be allocated."""

    refusal = True


class AllocationLost(ConflictError):
    """Another client took the allocated VLAN or subnet between allocation and creation (a lost race).

    Raised by a provider's step when Proxmox refuses a duplicate tag, VNet or subnet; ``add`` then undoes
    what it did and allocates again, skipping the lost values.
    """


class LockError(TenctlError):
    """A lock could not be taken."""


class CapacityError(TenctlError):
    """The cluster has no room for what was asked."""

    refusal = True


class ProxmoxError(TenctlError):
    """The Proxmox API answered with an error."""

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        super().__init__(f"Proxmox refused {method} {path}: {status} {detail}")


class ProxmoxUnreachable(TenctlError):
    """The Proxmox API could not be reached at all."""


class StepFailed(TenctlError):
    """A step of a plan failed; the completed steps were undone where possible."""

    def __init__(
        self, step: str, cause: Exception, undone: list[str], not_undone: list[str], forward: bool = False
    ) -> None:
        self.step = step
        self.cause = cause
        self.undone = undone
        self.not_undone = not_undone
        self.forward = forward
        lines = [f"step failed: {step}: {cause}"]
        if forward:
            lines.append(
                "the steps before it stay done; run the command again (or `tenctl repair`) to finish"
            )
        elif undone:
            lines.append("undone: " + "; ".join(undone))
        if not_undone:
            lines.append(
                "COULD NOT BE UNDONE (the tenant's journal lists it; fix the cause, then run "
                "`tenctl repair <name>`): " + "; ".join(not_undone)
            )
        elif not undone and not forward:
            lines.append("nothing had been changed")
        super().__init__("\n".join(lines))


def is_already_exists(error: ProxmoxError) -> bool:
    """PVE refused to create an object because it exists."""
    return "already exists" in error.detail or "already defined" in error.detail


def is_missing(error: ProxmoxError) -> bool:
    """PVE answered that the object does not exist."""
    text = error.detail.lower()
    return error.status == 404 or "does not exist" in text or "no such" in text or "not found" in text
