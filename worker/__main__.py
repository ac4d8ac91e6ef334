"""`python -m worker`: the worker alone, on every task queue — what `conveyor worker` runs without options."""

import asyncio

from conveyor.logs import setup_logging
from conveyor.settings import Settings
from worker.main import run_worker

if __name__ == "__main__":
    settings = Settings()
    setup_logging(settings)
    asyncio.run(run_worker(settings))
