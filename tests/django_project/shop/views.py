# shop/views.py
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from shop.tasks import send_receipt


@require_POST
def checkout(request, order_id: int):
    result = send_receipt.enqueue(order_id)
    return JsonResponse({"task": result.id}, status=202)
