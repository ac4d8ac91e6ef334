"""Orchestration only: one module per job kind, deterministic, every side effect in an activity.

Retry policies and timeouts live in `workflows.policies`, one row per job kind.
"""
