#!/bin/sh
# Creates Conveyor's namespace with its retention (the dedupe window of job keys) if it does not exist yet.
set -eu
ns="${DEFAULT_NAMESPACE:-default}"
temporal operator namespace describe -n "$ns" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
    || temporal operator namespace create -n "$ns" --retention "${DEFAULT_NAMESPACE_RETENTION:-7d}" --address "$TEMPORAL_ADDRESS"
