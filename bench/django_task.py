"""The trivial Django task of the bench's Django case, held to the trivial `@job` (`bench.team_job`): what Django's
task API on Conveyor costs over a team's own job."""

from __future__ import annotations

try:
    from django.tasks import task  # Django 6
except ImportError:
    from django_tasks import task  # Django 5.2 with the django-tasks backport


@task
async def bench_noop(value: str) -> str:
    """Does nothing, as `bench.team_job.bench_trivial` (a coroutine too, so both run on the worker's loop)."""
    return value
