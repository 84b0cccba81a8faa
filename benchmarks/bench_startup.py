"""Start-up of ``tenctl --help`` and ``tenctl --version`` next to ``import napalm, netmiko``.

The target is at most 0.3 times the device libraries' import, measured in the same run. Each figure is
the median wall time of fresh interpreters (bytecode caching on, as users run it); the ratio is given
both for the whole process and with a bare interpreter's start (``python -c pass``) taken off both.

    python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (median)")
    runs = parser.parse_args().runs
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "tenctl --help": [sys.executable, "-m", "tenctl_core", "--help"],
        "tenctl --version": [sys.executable, "-m", "tenctl_core", "--version"],
        'python -c "import napalm, netmiko"': [sys.executable, "-c", "import napalm, netmiko"],
    }
    for argv in commands.values():
        wall(argv, env)  # warm the bytecode and file caches
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):  # interleaved, so that a slow moment of the machine hits every command alike
        for label, argv in commands.items():
            samples[label].append(wall(argv, env))
    median = {label: statistics.median(values) for label, values in samples.items()}
    bare = median["python -c pass"]
    devices = median['python -c "import napalm, netmiko"']
    print(f"start-up, median of {runs} runs")
    for label, value in median.items():
        print(f"  {label:<36} {value * 1000:>6.0f} ms")
    print()
    for label in ("tenctl --help", "tenctl --version"):
        whole = median[label] / devices
        net = (median[label] - bare) / (devices - bare)
        print(f"  {label:<18} {whole:.2f}x the device import (whole process), {net:.2f}x (interpreter start taken off)")


if __name__ == "__main__":
    main()
