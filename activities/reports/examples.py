"""The example SQL report over the example database `conveyor dev` creates: sales per day in a date range."""

from __future__ import annotations

from datetime import date

from activities.reports.sql import sql_report
from contracts.report import SalesByDayParams

sql_report(
    "sales-by-day",
    title="Sales by day",
    database="example",
    params=SalesByDayParams,
    query="SELECT day, count(*) AS orders, sum(quantity) AS units, round(sum(amount), 2) AS revenue FROM sales "
    "WHERE day BETWEEN :since AND :until GROUP BY day ORDER BY day",
    columns={"day": date, "orders": int, "units": int, "revenue": float},
)
