"""Where a broadcast's recipients come from: named sources, each a function yielding recipients.

A source is registered like a report source, by name, and referred to as `name:argument` (`csv:list.csv`, a
file in the data directory) or `{"name": ..., "arg": ...}`. It must yield the same recipients in the same order
every time it is read: the broadcast pages through it by position, and may read a page again after a retry or a
worker restart.

    @recipient_source("customers")
    def customers(segment: str | list[str]) -> Iterator[Recipient]:
        for row in db.query(...):
            yield Recipient(address=row.email, context={"name": row.name})
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator

from activities.data_files import data_file
from contracts.broadcast import Recipient
from contracts.errors import InvalidJob

RecipientSource = Callable[[str | list[str]], Iterable[Recipient]]
"""A source: given its argument (a path, a segment name, a list), yields recipients in a stable order."""

SOURCES: dict[str, RecipientSource] = {}
"""Every registered source, by name."""


def recipient_source(name: str) -> Callable[[RecipientSource], RecipientSource]:
    """Register the decorated function as the recipient source `name`."""

    def register(fn: RecipientSource) -> RecipientSource:
        SOURCES[name] = fn
        return fn

    return register


def source(name: str) -> RecipientSource:
    """The source registered as `name`; `InvalidJob` (permanent) naming the known ones otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise InvalidJob(f"unknown recipient source {name!r}; known: {', '.join(sorted(SOURCES))}") from None


@recipient_source("static")
def static_recipients(arg: str | list[str]) -> Iterator[Recipient]:
    """The addresses given: a list, or one string separated by commas."""
    addresses = arg.split(",") if isinstance(arg, str) else arg
    for address in addresses:
        if address.strip():
            yield Recipient(address=address.strip())


@recipient_source("csv")
def csv_recipients(arg: str | list[str]) -> Iterator[Recipient]:
    """A CSV file in the data directory, with a header row: the `email` column (else the first) is the address,
    the others its context."""
    if not isinstance(arg, str) or not arg:
        raise InvalidJob("the csv source needs a file path, e.g. csv:recipients.csv (in the data directory)")
    try:
        with data_file(arg).open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            if not columns:
                return
            key = "email" if "email" in columns else columns[0]
            for row in reader:
                address = (row.pop(key, None) or "").strip()
                yield Recipient(address=address, context={k: v for k, v in row.items() if k is not None})
    except FileNotFoundError:
        raise InvalidJob(f"no recipients file {arg!r}") from None
