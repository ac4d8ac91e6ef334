"""Every side effect Conveyor has: SMTP, SMS providers, report rendering, storage, alerts.

Nothing here knows about workflows. Activities are methods of small classes that receive their dependencies in
`__init__`, so tests build them against real servers and the worker builds them from settings.
"""
