"""`OrderFilter` copies its filters shallowly per request (orders/filters.py): each FilterSet has its
own filters, pointing at it, and the class's filters are never changed."""

import pytest
from django.http import QueryDict

from orders.filters import OrderFilter
from orders.models import Order


@pytest.mark.django_db
def test_each_filterset_has_its_own_filters_and_their_methods_call_it(make_order):
    make_order("SO-F1")
    make_order("SO-F2")
    Order.objects.filter(order_no="SO-F2").update(status="cancelled")
    first = OrderFilter(QueryDict("q=so-f1"), queryset=Order.objects.all())
    second = OrderFilter(QueryDict("status=cancelled&sort=order_no"), queryset=Order.objects.all())

    for name, base in OrderFilter.base_filters.items():
        assert first.filters[name] is not base and second.filters[name] is not first.filters[name]
        assert first.filters[name].parent is first and second.filters[name].parent is second
        assert not hasattr(base, "parent")
        if base.method is not None:
            assert first.filters[name].filter.f is first.filters[name]
    assert first.is_valid() and second.is_valid()
    assert list(first.qs.values_list("order_no", flat=True)) == ["SO-F1"]
    assert list(second.qs.values_list("order_no", flat=True)) == ["SO-F2"]
    # A method is looked up on the FilterSet it belongs to.
    calls = []
    first.search = lambda queryset, name, value: calls.append(value) or queryset
    assert first.filters["q"].filter(Order.objects.all(), "x").model is Order
    assert calls == ["x"]
    assert second.filters["q"].filter(Order.objects.all(), "so-f2").count() == 1
