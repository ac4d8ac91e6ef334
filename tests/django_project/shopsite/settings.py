"""The test shop's settings: SQLite (its file from `SHOP_DATABASE`), tasks on Conveyor."""

import os

SECRET_KEY = "test-only-secret-key"
PAYMENT_API_KEY = "pk-live-test-0123456789"
"""A secret a task's error message mentions: Conveyor keeps it out of the job's failure."""
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
INSTALLED_APPS = ["shop"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "shopsite.urls"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("SHOP_DATABASE", "shop.sqlite3")}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TASKS = {
    "default": {
        "BACKEND": "conveyor.contrib.django.TaskBackend",
        "QUEUES": ["default"],
        "OPTIONS": {
            "ATTEMPTS": 3,
            "FIRST_RETRY": "100ms",  # tests retry at once; the default waits 1 s, then 2 s, 4 s...
            "TASKS": {
                "shop.tasks.charge_card": {"ATTEMPTS": 2},
                "shop.crash_tasks.receipt_when_let": {"HEARTBEAT": "2s"},  # a killed worker's task retried soon
            },
            "MODULES": ["shop.crash_tasks"],
        },
    }
}
