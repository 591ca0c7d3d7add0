"""Start-up: wall time of ``import themis`` and of ``themis --help``, each in a
fresh interpreter, the median of several runs. Targets (issue 14): no slower
than 0.15 s and 0.7 s, the times before statistics moved behind an extra.

    ./dev python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from _common import machine

COMMANDS = {
    "import themis": [sys.executable, "-c", "import themis"],
    "themis --help": [sys.executable, "-c", "from themis.cli.main import main; main()", "--help"],
}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for command in COMMANDS.values():
        timed(command)  # warm the file cache and the bytecode
    report: dict[str, object] = {"runs": args.runs, "machine": machine()}
    for name, command in COMMANDS.items():
        samples = sorted(timed(command) for _ in range(args.runs))
        report[name] = {
            "median_s": round(statistics.median(samples), 3),
            "min_s": round(samples[0], 3),
            "max_s": round(samples[-1], 3),
        }
    report["numpy imported by import themis"] = "numpy" in subprocess.run(
        [sys.executable, "-c", "import sys, themis; print(sorted(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("'")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
