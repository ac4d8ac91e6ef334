"""Turning command-line options into job fields: `--var`/`--param k=v` pairs, `--context` JSON, `--attach` files,
`--from-csv` rows and image `--size` boxes."""

from __future__ import annotations

import base64
import csv
import json
import mimetypes
import sys
from pathlib import Path
from typing import Any

from conveyor.client import MAX_PAYLOAD_BYTES, oversized
from conveyor.errors import InvalidJobError


def json_object(text: str, what: str) -> dict[str, Any]:
    """`text` as a JSON object, or `InvalidJobError` naming `what` and why not."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidJobError(f"{what} is not JSON: {e.msg} at position {e.pos}") from None
    except RecursionError:
        raise InvalidJobError(f"{what} is nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidJobError(f'{what} must be a JSON object, e.g. \'{{"name": "Ann"}}\'')
    return value


def job_text(kind: str, job: str) -> str:
    """The job's JSON: `job` itself, or standard input for `-`, read no further than one byte past the payload
    limit. A larger input is refused there: reading all of it first cost 370 MB of memory for 100 MB piped in."""
    if job != "-":
        return job
    data = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES + 1)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise oversized(kind, f"more than {MAX_PAYLOAD_BYTES} bytes")
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise InvalidJobError(f"the job is not UTF-8 text (byte {e.start})") from None


def template_context(pairs: list[str], context_json: str | None) -> dict[str, Any]:
    """The template variables: the `--context` JSON object, then each `--var name=value` over it."""
    context = json_object(context_json, "--context") if context_json else {}
    return context | key_values(pairs, "--var")


def key_values(pairs: list[str], option: str) -> dict[str, str]:
    """`["a=1", "b=x=y"]` -> `{"a": "1", "b": "x=y"}`; `InvalidJobError` naming `option` for a pair without `=`."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidJobError(f"{option} {pair!r} must look like name=value")
        values[name.strip()] = value
    return values


def attachments(paths: list[Path]) -> list[dict[str, Any]]:
    """Each file as an inline attachment (the job model enforces the size cap)."""
    result = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InvalidJobError(f"--attach {path}: {e.strerror}") from None
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        result.append({"filename": path.name, "content_type": content_type, "content": base64.b64encode(data).decode()})
    return result


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file with a header line that has an `email` column."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if "email" not in (reader.fieldnames or []):
                raise InvalidJobError(f"--from-csv {path}: the header needs an 'email' column")
            return [dict(row) for row in reader]
    except OSError as e:
        raise InvalidJobError(f"--from-csv {path}: {e.strerror}") from None


def box(text: str) -> dict[str, int | None]:
    """An image output's `--size`: `400x300` -> width and height; `1200x` or `x200`: one side."""
    width, sep, height = text.lower().partition("x")
    if not sep or not (width or height) or not (width + height).isdigit():
        raise InvalidJobError(f"--size {text!r}: write WIDTHxHEIGHT, WIDTHx or xHEIGHT, e.g. 400x300")
    return {"width": int(width) if width else None, "height": int(height) if height else None}
