"""Reference tables generated from the code: settings, CLI, HTTP routes, retry policies."""

from __future__ import annotations

import json
from datetime import timedelta
from enum import Enum
from typing import Any

import typer

from conveyor.settings import Settings


def cell(text: object) -> str:
    """`text` safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def iso_duration(value: timedelta) -> str:
    """A timedelta as the ISO 8601 duration the settings accept (`P3D`, `PT10M`)."""
    days, rest = divmod(int(value.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0S"


def shown_default(value: Any) -> str:
    """A default as a user would write it in the environment (blank when unset)."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        value = value.value
    elif isinstance(value, timedelta):
        value = iso_duration(value)
    elif isinstance(value, bool):
        value = str(value).lower()
    return f"`{value}`"


def settings_table() -> str:
    """Every `CONVEYOR_*` variable with its default and meaning, from the `Settings` model's fields."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = shown_default(field.get_default(call_default_factory=True))
        lines.append(f"| `CONVEYOR_{name.upper()}` | {cell(default)} | {cell(field.description or '')} |")
    return "\n".join(lines)


def _commands(group: Any, prefix: str) -> list[tuple[str, Any]]:
    """Every leaf command under `group`, with its full name, in the order `--help` lists them.

    Typed `Any`: Typer ships its own copy of click's classes (`typer._click`), so they are used by their methods.
    """
    found: list[tuple[str, Any]] = []
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if hasattr(command, "list_commands"):
            found += _commands(command, f"{prefix} {name}")
        else:
            found.append((f"{prefix} {name}", command))
    return found


def cli_reference(app: typer.Typer, prog: str = "conveyor") -> str:
    """One section per command: its help, its usage line and a table of its arguments and options."""
    sections = []
    for name, command in _commands(typer.main.get_command(app), prog):
        ctx = command.context_class(command, info_name=name)
        usage = " ".join(command.collect_usage_pieces(ctx))
        text = [f"## `{name}`", "", inspect_help(command), "", f"```text\n{name} {usage}\n```"]
        rows = []
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            record = param.get_help_record(ctx)
            names = record[0] if record else (param.name or "").upper()
            helptext = record[1] if record else getattr(param, "help", None) or ""
            rows.append(f"| `{cell(names)}` | {cell(helptext)} |")
        if rows:
            text += ["", "| argument / option | meaning |", "|---|---|", *rows]
        sections.append("\n".join(text))
    return "\n\n".join(sections)


def inspect_help(command: Any) -> str:
    """The command's help text (its docstring), one paragraph."""
    return " ".join((command.help or "").split())


def http_reference(openapi: dict[str, Any]) -> str:
    """One section per route of an OpenAPI document: summary, parameters, request body and responses."""
    sections = []
    for path, operations in openapi["paths"].items():
        for method, op in operations.items():
            text = [
                f"## `{method.upper()} {path}`",
                "",
                " ".join((op.get("description") or op.get("summary", "")).split()),
            ]
            params = op.get("parameters", [])
            if params:
                text += ["", "| parameter | in | required | meaning |", "|---|---|---|---|"]
                for p in params:
                    required = "yes" if p.get("required") else ""
                    desc = p.get("description") or p.get("schema", {}).get("description", "")
                    text.append(f"| `{p['name']}` | {p['in']} | {required} | {cell(desc)} |")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                text += ["", f"Body: {schema_name(body)} (JSON)."]
            responses = op.get("responses", {})
            if responses:
                text += ["", "| status | meaning |", "|---|---|"]
                text += [f"| {code} | {cell(r.get('description', ''))} |" for code, r in responses.items()]
            sections.append("\n".join(text))
    return "\n\n".join(sections)


def schema_name(schema: dict[str, Any]) -> str:
    """`EmailJob` for a `$ref` to it, else the schema as compact JSON."""
    ref = schema.get("$ref")
    return f"`{ref.rsplit('/', 1)[-1]}`" if ref else f"`{json.dumps(schema, separators=(',', ':'))}`"


def duration(value: timedelta | None) -> str:
    """`90 s`, `5 min`, `2 h`: short and exact."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def policies_table(policies: dict[str, Any]) -> str:
    """The rows of `workflows.policies.POLICIES` as one table."""
    lines = [
        "| job | attempt time-out | heartbeat time-out | first retry | backoff | max wait | attempts "
        "| fail at once on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in policies.items():
        never = ", ".join(f"`{e}`" for e in p.never_retry)
        if p.retry_schedule:  # an irregular schedule: its waits, in order (the back-off only covers killed workers)
            schedule = ", ".join(duration(d) for d in p.retry_schedule)
            lines.append(
                f"| `{name}` | {duration(p.attempt_timeout)} | {duration(p.heartbeat_timeout)} | "
                f"schedule: {schedule} | (x{p.backoff:g}) | {duration(p.max_retry_wait)} | {p.max_attempts} | {never} |"
            )
            continue
        lines.append(
            f"| `{name}` | {duration(p.attempt_timeout)} | {duration(p.heartbeat_timeout)} | "
            f"{duration(p.first_retry)} | x{p.backoff:g} | {duration(p.max_retry_wait)} | {p.max_attempts} | {never} |"
        )
    return "\n".join(lines)
