"""The contracts every side of Conveyor shares: job kinds, request and result models, job states, progress, error
type names, policy rows and connection settings.

Light by rule (a check in CI holds it): pydantic, the standard library and Temporal's own data types, plus the
validators the models need (email-validator, phonenumbers; jinja2 only when an inline template is checked) —
never our own packages, never SMTP, AWS, rendering or web libraries. The producer imports these to validate a job
before anything is enqueued; workflows and activities import the same models, so every side agrees.
"""
