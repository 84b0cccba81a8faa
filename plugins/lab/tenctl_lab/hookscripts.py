"""Guest hookscripts as Proxmox VE checks and runs them, on storages whose files live in the lab directory.

Setting a hookscript (``PUT``/``POST .../config`` with ``hookscript``):

- The volume is checked as pve-guest-common ``src/PVE/GuestHelpers.pm`` ``check_hookscript`` does: the
  storage exists and the volume name parses on it (pve-storage's errors), it is a ``snippets/`` volume
  (``'<volid>' is not in the snippets directory``), its file exists (``script '<volid>' does not exist``)
  and is executable (``script '<volid>' is not executable``). The storage's ``content`` is not looked at.
  A VM answers a bad volume with 400 and the message under ``hookscript`` (qemu-server
  ``src/PVE/API2/Qemu.pm`` ``update_vm_api``: ``raise_param_exc``); a container with a 500 (pve-container
  ``src/PVE/LXC/Config.pm`` ``update_pct_config``: a plain ``die``).
- Only ``root@pam`` may set or delete it: a VM answers anyone else, API tokens of root@pam included, with
  500 ``only root can set 'hookscript' config`` (``check_vm_modify_config_perm``: a plain ``die``, which
  pve-manager ``PVE/HTTPServer.pm`` answers with 500), checked after the volume; a container with 403
  ``Permission check failed (changing the hookscript is only allowed for root@pam)`` (``src/PVE/LXC.pm``
  ``check_ct_modify_config_perm``: ``raise_perm_exc``), checked before it.

Running it (``exec_hookscript``): ``<script> <vmid> <phase>`` through ``run_command`` (pve-common
``src/PVE/Cmd.pm``), its output (standard output and error) into the task log, no time limit. A start runs
``pre-start`` once the start's own checks passed (template, lock, already running) and pending changes are
applied (qemu-server ``src/PVE/QemuServer.pm`` ``vm_start_nolock``); a non-zero exit fails the task with
``hookscript error for <vmid> on pre-start: command '<script> <vmid> pre-start' failed: exit code <n>``.
``post-start`` follows the start, ``pre-stop`` and ``post-stop`` surround a stop or shutdown; their
failures are only written to the task log. The script runs as a subprocess of the lab's event loop, so the
lab keeps answering while it runs (the guard asks the lab's API). HA-managed guests are started by the HA
request here, without their hookscript.

Storages: ``local`` (a node's ``/var/lib/vz``) and ``snippets`` (a ``dir`` storage with content
``snippets``, shared) have their directories under the lab directory, so nothing of the host is written.
Every simulated node sees the same directory: in the lab a file written for ``local`` is on every node.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path

from fakepve.model import PveError, TaskError
from fakepve.routing import die, param_error, split_list

from .pvecommon import ROOT

HOOKED_STARTS = ("qmstart", "vzstart")
HOOKED_STOPS = ("qmstop", "qmshutdown", "vzstop", "vzshutdown")
START_LOCKS = {"qmstart": (None, "suspended"), "vzstart": (None, "mounted")}
"""The config locks under which the start goes on (fakepve's start checks, which come before pre-start)."""


class LabHookscripts:
    """Mixin of FakePve: hookscript checks on guest configs, hookscripts run at start and stop, and the
    storages' directories in the lab directory."""

    def use_storage_dir(self, root: Path) -> None:
        """Put ``local``'s directory under root and add the shared ``snippets`` storage beside it."""
        root = Path(root)
        self.storages["local"]["path"] = str(root / "local")
        self.storages["snippets"] = {
            "type": "dir",
            "active": 1,
            "content": "snippets",
            "shared": 1,
            "path": str(root / "snippets"),
            "files": set(),
            "avail": 10 * 1024**3,
        }
        for name in ("local", "snippets"):
            Path(self.storages[name]["path"]).mkdir(parents=True, exist_ok=True)

    def _volumes(self, name):
        """The storage's volumes, with the files of its snippets directory (Plugin.pm list_volumes:
        ``<storage>:snippets/<file>`` for each file, dot files left out; listed when the storage's content
        allows snippets)."""
        volumes = super()._volumes(name)
        store = self.storages[name]
        if not store.get("path") or store.get("type") not in ("dir", "nfs", "cifs", "cephfs", "btrfs"):
            return volumes
        directory = Path(self._volume_path(name, "snippets/-", "snippets")).parent
        if directory.is_dir():
            for entry in sorted(directory.iterdir()):
                if entry.name.startswith(".") or entry.is_dir():
                    continue
                info = entry.stat()
                volumes[f"snippets/{entry.name}"] = {
                    "content": "snippets",
                    "format": "snippet",
                    "size": info.st_size,
                    "ctime": int(info.st_mtime),
                }
        return volumes

    # ------------------------------------------------------------------------- the check

    def check_hookscript(self, volid) -> Path:
        """GuestHelpers.pm check_hookscript: the script's path, or PVE's die (a 500 PveError)."""
        storage, _, volname = str(volid).partition(":")
        store = self._store(storage)
        vtype, _owner, _format = self._parse_volname(store, volname)
        path = Path(self._volume_path(storage, volname, vtype))
        if vtype != "snippets":
            raise die(f"'{volid}' is not in the snippets directory")
        if not path.is_file():
            raise die(f"script '{volid}' does not exist")
        if not os.access(path, os.X_OK):
            raise die(f"script '{volid}' is not executable")
        return path

    async def _apply_config(self, vm, user, p):
        """update_vm_api: the volume first (400 under ``hookscript``), then root@pam only (500)."""
        if "hookscript" in p:
            try:
                self.check_hookscript(p["hookscript"])
            except PveError as exc:
                raise param_error(hookscript=exc.message) from None
        if user != ROOT and ("hookscript" in p or "hookscript" in split_list(p.get("delete"))):
            raise die("only root can set 'hookscript' config")
        return await super()._apply_config(vm, user, p)

    async def _update_config(self, ct, user, values, deletes, reverts):
        """check_ct_modify_config_perm (403 for all but root@pam), then update_pct_config's check (500)."""
        if user != ROOT and ("hookscript" in values or "hookscript" in deletes):
            raise PveError(
                403, "Permission check failed (changing the hookscript is only allowed for root@pam)"
            )
        if "hookscript" in values:
            self.check_hookscript(values["hookscript"])
        return await super()._update_config(ct, user, values, deletes, reverts)

    # --------------------------------------------------------------------------- running

    async def task(self, node, ttype, tid, user, body, vm=None, lock=True, log=()):
        if vm is not None and ttype in HOOKED_STARTS:
            body = self._hooked_start(ttype, vm, body)
        elif vm is not None and ttype in HOOKED_STOPS:
            body = self._hooked_stop(vm, body)
        return await super().task(node, ttype, tid, user, body, vm=vm, lock=lock, log=log)

    def _hooked_start(self, ttype, vm, body):
        async def start():
            if vm.template or vm.lock not in START_LOCKS[ttype] or vm.status == "running":
                return await body()  # the start's own checks fail it, before any hookscript
            if hasattr(vm, "apply_pending"):
                vm.apply_pending()
            else:
                self._apply(vm)
            script = vm.config.get("hookscript")
            if script:
                await self.run_hookscript(vm, script, "pre-start", fatal=True)
            note = await body()
            if script:
                await self.run_hookscript(vm, script, "post-start", fatal=False)
            return note

        return start

    def _hooked_stop(self, vm, body):
        async def stop():
            script = vm.config.get("hookscript")
            if script and vm.status == "running":
                await self.run_hookscript(vm, script, "pre-stop", fatal=False)
            note = await body()
            if script and vm.status == "stopped":
                await self.run_hookscript(vm, script, "post-stop", fatal=False)
            return note

        return stop

    async def run_hookscript(self, vm, volid, phase, fatal):
        """exec_hookscript: run the script, its output into the task log; a failure fails the task (fatal)
        or is written to the log."""
        record = self.tasks.get(vm.lock_holder) or {"log": []}
        try:
            path = self.check_hookscript(volid)
        except PveError as exc:
            error = f"hookscript error for {vm.vmid} on {phase}: {exc.message.strip()}"
        else:
            process = await asyncio.create_subprocess_exec(
                str(path),
                str(vm.vmid),
                phase,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await process.communicate()
            record["log"].extend(output.decode("utf-8", errors="replace").splitlines())
            code = process.returncode
            if code == 0:
                return
            why = f"got signal {-code}" if code < 0 else f"exit code {code}"
            command = " ".join(shlex.quote(part) for part in (str(path), str(vm.vmid), phase))
            error = f"hookscript error for {vm.vmid} on {phase}: command '{command}' failed: {why}"
        if fatal:
            raise TaskError(error)
        record["log"].append(error)
