"""What every simulated device of the lab keeps the same way: its request log (in memory and, when given a
path, as JSON lines on disk, never with a secret) and the requests it holds back on purpose.

A device class inherits :class:`RequestLog`, calls ``init_request_log(log_path)`` in ``__init__`` and has a
``lock`` (the device's own, guarding ``holding``); ``log_fields()`` adds fields to every line (a switch
adds its name).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any


class RequestLog:
    lock: Any
    log_path: Path | None
    holding: int

    def init_request_log(self, log_path: Path | str | None) -> None:
        self.log_path = Path(log_path) if log_path else None
        self._log_lock = threading.Lock()
        self._log: list[dict] = []
        self.holding = 0  # requests held back right now (hold_nth)

    def log_fields(self) -> dict[str, Any]:
        return {}

    def log(self, transport: str, outcome: str, **fields: Any) -> None:
        """One line of the request log: time, transport, what was asked, outcome."""
        line = {"time": round(time.time(), 6), **self.log_fields(), "transport": transport, **fields}
        line["outcome"] = outcome
        with self._log_lock:
            self._log.append(line)
            if self.log_path:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_path, "a", encoding="utf-8") as out:
                    out.write(json.dumps(line) + "\n")

    def log_lines(self, mark: int = 0) -> list[dict]:
        """The log lines of this device since mark (a previous mark())."""
        with self._log_lock:
            return list(self._log[mark:])

    def mark(self) -> int:
        with self._log_lock:
            return len(self._log)

    async def hold(self, seconds: float) -> None:
        """Hold a request back (counted in `holding` meanwhile)."""
        with self.lock:
            self.holding += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            with self.lock:
                self.holding -= 1
