"""What a producer pays to import Conveyor, each in a fresh interpreter: `import conveyor` (its public names load
on first use), and `from conveyor import Jobs, EmailJob` (what enqueueing needs), against the floor under the
latter — importing the Temporal client and pydantic themselves."""

from __future__ import annotations

import subprocess
import sys

from bench.figures import Row, Spread

TIMED = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"


def seconds(statement: str) -> float:
    """Seconds `statement` takes to run in a new interpreter (interpreter start-up not included)."""
    ran = subprocess.run([sys.executable, "-c", TIMED.format(statement)], capture_output=True, text=True, check=True)
    return float(ran.stdout.strip().splitlines()[-1])


def measure(reps: int) -> list[Row]:
    """The import rows, `reps` fresh interpreters each."""
    bare = Spread([seconds("import conveyor") for _ in range(reps)])
    producer = Spread([seconds("from conveyor import Jobs, EmailJob") for _ in range(reps)])
    floor = Spread([seconds("import temporalio.client, pydantic") for _ in range(reps)])
    return [
        Row("`import conveyor`", "s", bare, target="≤ 0.15 s", check=lambda r: r.conveyor.median <= 0.15),
        Row("`from conveyor import Jobs, EmailJob`", "s", producer, floor, "import temporalio.client, pydantic",
            note="what enqueueing needs; no target yet"),
    ]  # fmt: skip
