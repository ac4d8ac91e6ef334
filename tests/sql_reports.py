"""SQL reports for tests over the `shop` database (a SQLite file a test creates): typed rows, a query that
writes, and one that outlasts its time-out. Importing this module registers them, in the producer and the worker."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from activities.reports.sql import sql_report, table_report


class OrdersParams(BaseModel):
    min_total: float = Field(ge=0)


sql_report(
    "shop-orders",
    title="Orders",
    database="shop",
    params=OrdersParams,
    query="SELECT id, customer, placed_on, paid_at, total FROM orders WHERE total >= :min_total ORDER BY id",
    columns={"id": int, "customer": str, "placed_on": date, "paid_at": datetime, "total": float},
)
table_report("shop-customers", database="shop", table_name="customers", columns={"id": int, "name": str})
sql_report(
    "shop-sneaky-write",
    title="Writes",
    database="shop",
    query="INSERT INTO customers (name) VALUES ('mallory') RETURNING id",
    columns={"id": int},
)
sql_report(
    "shop-slow",
    title="Slow",
    database="shop",
    query="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
    columns={"count": int},
    timeout_seconds=0.3,
)
sql_report("shop-elsewhere", title="Elsewhere", database="broken", query="SELECT 1 AS one", columns={"one": int})
