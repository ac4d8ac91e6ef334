"""The custom search attributes Conveyor tags workflow-shaped jobs with, so they can be found by key, recipient or
tenant.

Activity-shaped jobs (email, SMS) carry none: the web UI's one-click re-run of a standalone activity fails on any
search attribute (measured on web UI 2.54.1: see the operating page), so they are found by their id and their
input instead (`conveyor.operations`); those started before carry these and are still found by them. The job kind
needs none: it is the workflow or activity type (`WorkflowType='SendEmail'`), which also covers jobs started by
other Temporal clients. `conveyor dev` registers these at server start; `conveyor setup` on a real cluster.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

JOB_KEY = SearchAttributeKey.for_keyword("JobKey")
"""The idempotency key a producer gave (`key=`), if any."""
RECIPIENTS = SearchAttributeKey.for_keyword_list("Recipients")
"""Every email address or phone number the job reaches."""
TENANT = SearchAttributeKey.for_keyword("Tenant")
"""The tenant a producer gave (`tenant=`), if any: also the fairness key of the job's priority (`conveyor.tenants`)."""

ALL: tuple[SearchAttributeKey, ...] = (JOB_KEY, RECIPIENTS, TENANT)


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags that register them on `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        cli_type = key.indexed_value_type.name.title().replace("_", "")  # KEYWORD_LIST -> KeywordList
        flags += ["--search-attribute", f"{key.name}={cli_type}"]
    return flags


def for_job(key: str | None, recipients: list[str], tenant: str | None = None) -> TypedSearchAttributes:
    """The search attributes of a new job."""
    pairs: list[SearchAttributePair] = [SearchAttributePair(RECIPIENTS, recipients[:100])]
    if key is not None:
        pairs.append(SearchAttributePair(JOB_KEY, key))
    if tenant is not None:
        pairs.append(SearchAttributePair(TENANT, tenant))
    return TypedSearchAttributes(pairs)


async def missing(client: Client, namespace: str) -> list[SearchAttributeKey]:
    """The ones not registered on `namespace` yet (what `conveyor doctor` reports and `register` adds)."""
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return [k for k in ALL if k.name not in existing.custom_attributes]


async def register(client: Client, namespace: str) -> list[str]:
    """Register the missing ones on a cluster (idempotent); returns the names it added."""
    to_add = {k.name: IndexedValueType.ValueType(k.indexed_value_type.value) for k in await missing(client, namespace)}
    if to_add:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=to_add)
        )
    return sorted(to_add)
