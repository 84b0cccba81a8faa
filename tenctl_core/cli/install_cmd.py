"""``tenctl install-local``, ``tenctl cluster install|status``, ``tenctl update-cli``, ``tenctl uninstall``
and ``tenctl completion``: putting tenctl on the cluster's nodes and taking it off again.

The work is in :mod:`tenctl_core.install` (imported when a command runs); this module parses, confirms
and prints.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tenctl_core.cli.common import JsonFlag, audited, declined, open_context, options, reported_errors
from tenctl_core.errors import UsageError

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.install import ClusterNodes

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
LocalOnly = Annotated[bool, typer.Option("--local-only", help="This node only; no other node is contacted.")]
FromOption = Annotated[
    Path | None,
    typer.Option(
        "--from",
        help="A directory of wheels (tenctl's, its plugins', optionally their dependencies') to install.",
        show_default=False,
    ),
]


@contextmanager
def file_errors() -> Iterator[None]:
    """A file that cannot be written or removed (not root, a read-only file system) is an error naming it."""
    try:
        yield
    except OSError as exc:
        from tenctl_core.install import InstallError

        where = f"{exc.filename}: " if exc.filename else ""
        hint = (
            "run it as root"
            if isinstance(exc, PermissionError)
            else "fix that path, then run the command again"
        )
        raise InstallError(f"{where}{exc.strerror or exc}", hint) from None


def confirm(question: str, given: bool, flag: str = "-y") -> None:
    """Ask at a terminal unless the flag was given; without a terminal the flag is needed."""
    if given:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} needs confirmation: run it from a terminal or pass {flag}")
    if not typer.confirm(question, default=False):
        declined()


def check_from(from_dir: Path | None) -> Path | None:
    if from_dir is None:
        return None
    from tenctl_core.wheelhouse import wheels_in

    path = from_dir.absolute()
    if not path.is_dir():
        raise UsageError(f"--from {from_dir}: no such directory")
    if "tenctl" not in wheels_in(path):
        raise UsageError(f"--from {from_dir}: no wheel of tenctl in it (tenctl-VERSION-*.whl)")
    return path


# ------------------------------------------------------------------------------------- install-local


def install_local(
    root: Annotated[
        str,
        typer.Option(
            "--root", help="Install under this directory instead of / (a staging tree, like DESTDIR)."
        ),
    ] = "/",
    from_dir: FromOption = None,
    no_wheelhouse: Annotated[
        bool,
        typer.Option(
            "--no-wheelhouse",
            help="Only write this node's links, completion, manual page, unit and logrotate file.",
        ),
    ] = False,
    config_from: Annotated[
        str | None,
        typer.Option(
            "--config-from", hidden=True, help="Configuration files received from the installing node."
        ),
    ] = None,
) -> None:
    """Install tenctl on this node: the venv in /opt/tenctl with its wheelhouse, the tenctl and tenctl-<command>
    programs, completion for bash and zsh, the manual page, the watcher's unit and the logrotate file."""
    from tenctl_core import install, wheelhouse

    with reported_errors(False), file_errors():
        base = install.check_root(root)
        source = check_from(from_dir)
        incoming = install.check_root(config_from, "--config-from") if config_from else None
        if no_wheelhouse:
            receipt = install.install_node_files(base, incoming)
            print(
                f"tenctl {receipt.version}: {len(receipt.files)} files in place under {base}"
                + (f", {len(receipt.config)} configuration files" if receipt.config else "")
            )
            return
        group = typer.main.get_command(_app())
        install.check_no_foreign_files(base, install.command_words(group))
        install.make_prefix(base)
        house = wheelhouse.build(install.under(base, install.WHEELS), source)
        install.run_here(install.node_commands(base, house, with_config=False))
        print(f"installed {', '.join(house.requirements)} in {install.under(base, install.PREFIX)}")
        print("enable the watcher when the configuration is ready: systemctl enable --now tenctl-watcher")


# -------------------------------------------------------------------------------------------- cluster


def cluster_main() -> None:
    """tenctl on the cluster's nodes: install it on every online node, see which version each runs."""


def find_nodes(ctx: Context, local_only: bool) -> ClusterNodes:
    from tenctl_core import install

    if local_only:
        return install.ClusterNodes(ctx.node, [], [])
    overrides = install.target_overrides()  # checked before the first request
    return install.cluster_nodes(ctx.proxmox.get("/cluster/status") or [], ctx.node, overrides)


def preflight_all(nodes: ClusterNodes) -> None:
    from tenctl_core import install

    for target in nodes.targets:
        install.preflight(target)
    for name in nodes.offline:
        print(f"skipped: node {name} is offline (run the command again when it is back)")


def run_on_nodes(nodes: ClusterNodes, action: Any, verb: str) -> None:
    """action(target) on each node in turn; a failed node does not stop the others, it fails the command.
    An action that returns text (what else it did there) has it shown after the node's name."""
    from tenctl_core import install

    failed = []
    for target in nodes.targets:
        try:
            note = action(target)
        except install.InstallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(target.node)
            continue
        print(f"{verb}: {target.node}" + (f" ({note})" if isinstance(note, str) else ""))
    if failed:
        raise install.InstallError(
            f"{len(failed)} node(s) not {verb}: {', '.join(failed)}",
            "fix what the messages above say, then run the command again (done nodes are unchanged by it)",
        )


def cluster_install(tctx: typer.Context, yes: YesOption = False, local_only: LocalOnly = False) -> None:
    """Install this node's tenctl (same version, same plugins) and its configuration (the configuration file
    and the files it names, modes kept) on every other online node, over SSH with host keys checked."""
    from tenctl_core import install
    from tenctl_core.wheelhouse import Wheelhouse

    with reported_errors(options(tctx).debug), file_errors():
        root = install.require_installed_root()
        ctx = open_context(tctx, "cluster install")
        house = Wheelhouse.read(install.under(root, install.WHEELS))
        files = install.config_files(ctx.config.source)
        nodes = find_nodes(ctx, local_only)
        preflight_all(nodes)
        names = [ctx.node, *(t.node for t in nodes.targets)]
        confirm(
            f"Install {', '.join(house.requirements)} and this node's configuration ({len(files)} files) on "
            f"{', '.join(names)}?",
            yes,
        )
        with audited(
            ctx, "cluster install", None, {"nodes": names, "requirements": list(house.requirements)}
        ):
            install.install_node_files(root, None)
            print(f"installed: {ctx.node} (this node)")
            run_on_nodes(nodes, lambda t: install.install_remote(t, root, house, files), "installed")


def cluster_status(tctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The cluster's nodes: online or not, and the tenctl version each noted when it last ran a command."""
    from tenctl_core.versions import describe_versions, node_versions

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "cluster status")
        status = ctx.proxmox.get("/cluster/status") or []
        noted = node_versions(ctx.config.paths.cluster_dir)
        rows = [
            {
                "node": str(item.get("name")),
                "online": bool(int(item.get("online", 0) or 0)),
                "address": item.get("ip"),
                "tenctl": noted.get(str(item.get("name")), {}).get("tenctl"),
                "plugins": noted.get(str(item.get("name")), {}).get("plugins", {}),
            }
            for item in sorted(status, key=lambda i: str(i.get("name")))
            if item.get("type") == "node"
        ]
        if as_json:
            from tenctl_core.output import print_json

            print_json(rows)
            return
        for row in rows:
            found = noted.get(row["node"])
            print(
                f"{row['node']:<16} {'online' if row['online'] else 'OFFLINE':<8} {row['address'] or '-':<16} "
                + (describe_versions(found) if found else "tenctl not run there yet")
            )


# ------------------------------------------------------------------------------------------ update-cli


def update_cli(
    tctx: typer.Context, yes: YesOption = False, local_only: LocalOnly = False, from_dir: FromOption = None
) -> None:
    """Upgrade tenctl on this node (from --from's wheels, else from the package index), then on each other
    online node once, from this node's wheelhouse. After each node's upgrade its watcher is restarted if it
    is running (systemctl try-restart tenctl-watcher), so it runs the new version."""
    from tenctl_core import install, wheelhouse

    with reported_errors(options(tctx).debug), file_errors():
        source = check_from(from_dir)
        root = install.require_installed_root()
        ctx = open_context(tctx, "update-cli")
        nodes = find_nodes(ctx, local_only)
        preflight_all(nodes)
        names = [ctx.node, *(t.node for t in nodes.targets)]
        confirm(f"Upgrade tenctl on {', '.join(names)}{f' from {source}' if source else ''}?", yes)
        with audited(ctx, "update-cli", None, {"nodes": names}) as info:
            wheels = install.under(root, install.WHEELS)
            if source is None:
                old = wheelhouse.Wheelhouse.read(wheels)
                names_only = [r.partition("==")[0] for r in old.requirements]
                install.run_here(
                    [[sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", *names_only]]
                )
            house = wheelhouse.build(wheels, source)
            info["requirements"] = list(house.requirements)
            install.run_here(install.node_commands(root, house, with_config=False))
            note = install.restart_watcher_here(root, ctx.node)
            print(f"updated: {ctx.node} (this node) to {', '.join(house.requirements)} ({note})")
            run_on_nodes(nodes, lambda t: install.update_remote(t, root, house), "updated")


# ------------------------------------------------------------------------------------------- uninstall


def uninstall(
    tctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option("--full", help="Also remove the configuration and secret files, logs and node state."),
    ] = False,
    purge_tenants: Annotated[
        bool,
        typer.Option(
            "--purge-tenants", help="First remove every tenant (as `tenctl remove` does), after a prompt."
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation.")] = False,
    local_only: LocalOnly = False,
) -> None:
    """Remove tenctl from every online node (this one last): what the installation put there and, with
    --full, the configuration, secrets, logs and node state. Tenant records stay unless --purge-tenants."""
    from tenctl_core import install
    from tenctl_core.context import node_name

    with reported_errors(options(tctx).debug), file_errors():
        root = install.require_installed_root()
        ctx = open_context(tctx, "uninstall") if (purge_tenants or not local_only) else None
        if purge_tenants:
            assert ctx is not None
            purge_every_tenant(tctx, ctx, force)
        nodes = find_nodes(ctx, local_only) if ctx is not None else install.ClusterNodes(node_name(), [], [])
        preflight_all(nodes)
        names = [*(t.node for t in nodes.targets), nodes.local]
        what = " with its configuration, secrets, logs and state" if full else ""
        confirm(f"Uninstall tenctl{what} from {', '.join(names)}?", force, "-f")
        run_on_nodes(nodes, lambda t: install.uninstall_remote(t, full), "uninstalled")
        stop_watcher(root)
        removed = install.remove_node_files(root, full)
        if full:
            import atexit
            import shutil

            # the audit trail's line of this command is written after it returns: remove the logs after it
            atexit.register(shutil.rmtree, install.under(root, "var/log/tenctl"), True)
        print(f"uninstalled: {nodes.local} ({len(removed)} paths removed)")


def purge_every_tenant(tctx: typer.Context, ctx: Context, force: bool) -> None:
    """Remove each tenant through `tenctl remove`, so each removal is planned, undone on failure and audited
    like any other."""
    import subprocess

    from tenctl_core import install

    names = ctx.store.names()
    if not names:
        return
    confirm(
        f"Remove every tenant ({len(names)}: {', '.join(names)}) and all tenctl created for them?",
        force,
        "-f",
    )
    opts = options(tctx)
    global_args = [
        *(["--config", opts.config] if opts.config else []),
        *(["--profile", opts.profile] if opts.profile else []),
    ]
    for name in names:
        done = subprocess.run(
            [sys.executable, "-m", "tenctl_core", *global_args, "remove", "-n", name, "--force"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise install.InstallError(
                f"removing tenant {name} failed: {install.last_line(done.stderr)}; nothing was uninstalled",
                f"see `tenctl repair {name}`, then run uninstall again",
            )
        print(f"removed tenant: {name}")


def stop_watcher(root: Path) -> None:
    """On a running system, stop and disable the watcher before its program goes (a staging root has none)."""
    import shutil
    import subprocess

    if root != Path("/") or not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return
    subprocess.run(
        ["systemctl", "disable", "--now", "tenctl-watcher.service"], capture_output=True, check=False
    )


# ------------------------------------------------------------------------------------------ completion


def completion_command(
    shell: Annotated[str, typer.Argument(help="bash or zsh.", show_default=False)],
) -> None:
    """Print the completion script for bash or zsh (what install-local installs)."""
    from tenctl_core import completion
    from tenctl_core.install import tenants_dir_for_completion

    with reported_errors(False):
        if shell not in ("bash", "zsh"):
            raise UsageError(f"shell {shell!r}: completion is for bash or zsh")
        group = typer.main.get_command(_app())
        tree = completion.command_tree(group)
        script = completion.bash_script if shell == "bash" else completion.zsh_script
        sys.stdout.write(script(tree, tenants_dir_for_completion()))


def _app() -> typer.Typer:
    from tenctl_core.cli.app import make_app
    from tenctl_core.plugins import get_plugin_manager

    return make_app(get_plugin_manager())


def register(app: typer.Typer) -> None:
    app.command("install-local")(install_local)
    cluster = typer.Typer(help=cluster_main.__doc__, no_args_is_help=True, rich_markup_mode=None)
    cluster.callback()(cluster_main)
    cluster.command("install")(cluster_install)
    cluster.command("status")(cluster_status)
    app.add_typer(cluster, name="cluster")
    app.command("update-cli")(update_cli)
    app.command("uninstall")(uninstall)
    app.command("completion")(completion_command)
