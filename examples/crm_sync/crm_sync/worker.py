"""What `conveyor worker` hosts for the `crm_sync` kind: no workflow (it is a single step), one activity."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from crm_sync.activities import CrmActivities


def hosted(settings: Any) -> tuple[Sequence[type], Sequence[Callable[..., Any]]]:
    """The kind's workflows and activities, built from the environment (`CRM_SYNC_URL`)."""
    crm = CrmActivities(os.environ.get("CRM_SYNC_URL", "http://127.0.0.1:8090/customers"))
    return [], [crm.sync]
