"""What the shop's tasks write."""

from django.db import models


class Receipt(models.Model):
    """One receipt per order, written by the `send_receipt` task."""

    order_id = models.IntegerField(unique=True)
