"""One of several processes running the same experiment on one store (see
test_shared_run.py).

Usage: python -m tests.reliability.shared_run_worker CONFIG OUT_JSON

Runs ``Experiment.from_config(CONFIG).run()`` (store and runtime from the
config) and writes what its RunResult covers, and how many generations this
process stored itself, to OUT_JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from themis import Experiment
from themis.core.storage.events import GenerationCompletedEvent


class StoredHere:
    """Counts the generations this process's writer stored (not reused ones)."""

    def __init__(self) -> None:
        self.generations = 0

    def on_event(self, event: Any) -> None:
        self.generations += isinstance(event, GenerationCompletedEvent)


def main(config: str, out: str) -> None:
    counter = StoredHere()
    result = Experiment.from_config(config).run(subscribers=[counter])
    with open(out, "w") as handle:
        json.dump(
            {
                "run_id": result.run_id,
                "status": result.status.value,
                "case_keys": [case.case_key for case in result.cases],
                "completed": sum(case.status.value == "completed" for case in result.cases),
                "generated_here": counter.generations,
            },
            handle,
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
