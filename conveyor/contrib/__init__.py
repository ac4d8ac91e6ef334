"""Integrations with other frameworks, each an optional extra (`conveyor[django]`): never imported by `conveyor`."""
