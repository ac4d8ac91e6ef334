# shop/tasks.py
from django.conf import settings

try:
    from django.tasks import task  # Django 6
except ImportError:
    from django_tasks import task  # Django 5.2 with the django-tasks backport

from shop.models import Receipt


@task
def send_receipt(order_id: int) -> int:
    receipt, _ = Receipt.objects.get_or_create(order_id=order_id)  # a retried attempt writes no second row
    return receipt.pk


class PaymentDeclined(Exception):
    pass


@task
def charge_card(order_id: int) -> None:
    raise PaymentDeclined(f"order {order_id}: declined for key {settings.PAYMENT_API_KEY}")


@task(takes_context=True)
async def sync_stock(context, sku: str) -> int:
    if context.attempt == 1:
        raise ConnectionError("the stock service is not up yet")
    return context.attempt
