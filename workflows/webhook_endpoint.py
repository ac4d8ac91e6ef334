"""`WebhookEndpointDisabled`: the durable record that one webhook endpoint is disabled, one workflow per endpoint.

Why a workflow and not a flag in one worker's memory or a file: every worker and every producer already talks to
Temporal, and one `describe` of `webhook_endpoint-<name>` answers "disabled?" exactly, at once, from anywhere —
no shared disk, no cache that can disagree. The workflow runs while the endpoint is disabled (its input says why);
`conveyor endpoints enable NAME` terminates it, which takes effect on the server at once, with or without a
worker. Its history is three events long and never grows; the web UI lists disabled endpoints as running
`WebhookEndpointDisabled` workflows.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.inputs import any_inputs, decode
    from contracts.webhook import EndpointOff

__all__ = ["WebhookEndpointDisabled"]


@workflow.defn(name="WebhookEndpointDisabled")
class WebhookEndpointDisabled:
    """Stays open while its endpoint is disabled. Input: an `EndpointOff`. Ended by terminating it (enable)."""

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> EndpointOff:
        """Check the record, then wait until terminated: being open *is* the state."""
        record = decode(raw, EndpointOff)
        await workflow.wait_condition(lambda: False)
        return record
