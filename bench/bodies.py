"""The order the bench creates, in the product's shape and in the naive app's flat shape.

One delivery order, one line whose stock is at MAN and whose fleet is BHM's, so the create runs
the whole trunking path (one stock movement). "@@" stands for the unique order number.
"""

import json
from datetime import date, timedelta


def product_order(order_no="@@"):
    return {
        "order_no": order_no,
        "customer": {"name": "Ann Smith", "mobile": "07700900123", "email": "ann@example.com"},
        "address": {"line1": "1 High Street", "town": "Birmingham", "postal_code": "B2 4QA", "country": "GB"},
        "service_level": "2MAN-ROC",
        "required_date": (date.today() + timedelta(days=5)).isoformat(),
        "lines": [
            {"line_no": 1, "sku": "SOFA-3", "quantity": 1, "stock_location": "MAN", "delivery_method": "BHM-2MAN"}
        ],
    }


def naive_order(order_no="@@"):
    return {
        "order_no": order_no,
        "customer_name": "Ann Smith",
        "customer_mobile": "07700900123",
        "customer_email": "ann@example.com",
        "line1": "1 High Street",
        "town": "Birmingham",
        "postal_code": "B2 4QA",
        "country": "GB",
        "service_level": "2MAN-ROC",
        "required_date": (date.today() + timedelta(days=5)).isoformat(),
        "lines": [
            {"line_no": 1, "sku": "SOFA-3", "quantity": 1, "stock_location": "MAN", "delivery_method": "BHM-2MAN"}
        ],
    }


def single(kind):
    return json.dumps(product_order() if kind == "product" else naive_order())


def bulk(kind, size=100):
    make = product_order if kind == "product" else naive_order
    return json.dumps([make(f"@@-{i:03d}") for i in range(size)])
