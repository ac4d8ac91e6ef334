"""The test shop's routes."""

from django.urls import path
from shop.views import checkout

urlpatterns = [path("orders/<int:order_id>/checkout", checkout)]
