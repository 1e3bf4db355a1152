"""Plain nested ModelSerializers, written as DRF's "writable nested representations" guide shows."""

from rest_framework import serializers

from orders.models import DeliveryMethod, Order, OrderGroup, OrderLine, ServiceLevel, StockLocation


class LineSerializer(serializers.ModelSerializer):
    stock_location = serializers.SlugRelatedField(slug_field="code", queryset=StockLocation.objects.all())
    delivery_method = serializers.SlugRelatedField(slug_field="code", queryset=DeliveryMethod.objects.all())

    class Meta:
        model = OrderLine
        fields = ["line_no", "sku", "description", "quantity", "stock_location", "delivery_method", "on_hand_date"]


class OrderSerializer(serializers.ModelSerializer):
    service_level = serializers.SlugRelatedField(
        slug_field="code", queryset=ServiceLevel.objects.all(), required=False, allow_null=True
    )
    lines = LineSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            "order_no", "order_date", "order_type", "customer_name", "customer_mobile", "customer_email",
            "service_level", "required_date", "line1", "town", "postal_code", "country", "status", "version",
            "created_at", "updated_at", "lines",
        ]  # fmt: skip
        read_only_fields = ["status", "version", "created_at", "updated_at"]

    def create(self, validated_data):
        lines = validated_data.pop("lines")
        order = Order.objects.create(**validated_data)
        address = {f: getattr(order, f) for f in ("line1", "town", "postal_code", "country")}
        group = OrderGroup.objects.create(order=order, sequence=1, group_type="delivery", **address)
        for line in lines:
            OrderLine.objects.create(order=order, group=group, **line)
        return order
