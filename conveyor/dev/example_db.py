"""The example database `conveyor dev` ships: a few thousand generated sales, for the `sales-by-day` report.

Created with the standard library's sqlite3 on the stack's first start (never overwritten, so a newcomer may add
rows), from a fixed seed, so every machine gets the same rows and the docs' output matches.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

FIRST_DAY = date(2026, 1, 1)
DAYS = 90
SALES = 5000
PRODUCTS = {"kettle": 39.5, "teapot": 24.0, "mug": 8.25, "tea tin": 12.9, "strainer": 6.5}


def ensure_example_database(path: Path) -> None:
    """Create the example database at `path` unless it exists."""
    if path.exists():
        return
    rng = random.Random(33)
    sales = []
    for n in range(SALES):
        product = rng.choice(sorted(PRODUCTS))
        quantity = rng.randint(1, 4)
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        sales.append((n + 1, day.isoformat(), product, quantity, round(PRODUCTS[product] * quantity, 2)))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(partial) as db:
        db.execute(
            "CREATE TABLE sales (id INTEGER PRIMARY KEY, day TEXT NOT NULL, product TEXT NOT NULL, "
            "quantity INTEGER NOT NULL, amount REAL NOT NULL)"
        )
        db.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", sales)
        db.execute("CREATE INDEX sales_day ON sales (day)")
    db.close()
    partial.rename(path)  # whole or absent: a stack killed mid-creation creates it again next start
