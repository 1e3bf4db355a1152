"""Forms of the office pages.

The forms here read what a person typed (types, dates, numbers) and render it back with errors
beside each field. The order's rules are not repeated: the order form is turned into the body the
API takes and checked by the API's own serializers (`orders/api/serializers.py`), whose errors are
put back beside the fields they name, and the change is then made through `orders/services.py`.
"""

from django import forms

from .models import DeliveryMethod, Order, OrderGroup, ServiceLevel, StockLocation
from .services import LINE_FIELDS

ADDRESS = ("line1", "line2", "line3", "town", "county", "postal_code", "country", "lat", "lng")


class ReferenceChoices:
    """Active reference data as select choices, read once per request."""

    def __init__(self):
        self.stock_locations = [(s.code, f"{s.code} — {s.name}") for s in StockLocation.objects.active()]
        self.delivery_methods = [
            (m.code, f"{m.code} — {m.name} ({m.depot.code})")
            for m in DeliveryMethod.objects.active().select_related("depot")
        ]
        self.service_levels = [(s.code, f"{s.code} — {s.name}") for s in ServiceLevel.objects.active()]


def _blank(choices, label):
    return [("", label), *choices]


def _address_fields():
    return {
        "line1": forms.CharField(label="Address line 1", max_length=100, required=False),
        "line2": forms.CharField(label="Address line 2", max_length=100, required=False),
        "line3": forms.CharField(label="Address line 3", max_length=100, required=False),
        "town": forms.CharField(max_length=100, required=False),
        "county": forms.CharField(max_length=100, required=False),
        "postal_code": forms.CharField(label="Postal code", max_length=20, required=False),
        "country": forms.CharField(
            max_length=2, required=False, initial="GB", help_text="Two letters, e.g. GB.", label="Country"
        ),
        "lat": forms.DecimalField(label="Latitude", max_digits=9, decimal_places=6, required=False),
        "lng": forms.DecimalField(label="Longitude", max_digits=9, decimal_places=6, required=False),
    }


class OrderForm(forms.Form):
    """The order's header: customer, address, time window, service and notes."""

    order_no = forms.CharField(label="Order number", max_length=50)
    order_type = forms.ChoiceField(label="Type", choices=Order.Type.choices, initial=Order.Type.DELIVERY)
    order_date = forms.DateField(label="Order date", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    customer_name = forms.CharField(label="Customer name", max_length=100)
    customer_mobile = forms.CharField(label="Mobile", max_length=30, required=False)
    customer_phone = forms.CharField(label="Phone", max_length=30, required=False)
    customer_email = forms.EmailField(label="Email", max_length=254, required=False)
    customer_reference = forms.CharField(label="Customer reference", max_length=100, required=False)
    service_level = forms.ChoiceField(label="Service level", required=False)
    unload_minutes = forms.IntegerField(label="Unload minutes", min_value=0, max_value=1440, required=False)
    required_date = forms.DateField(
        label="Required date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    required_time_from = forms.TimeField(
        label="Window from", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    required_time_to = forms.TimeField(
        label="Window to", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    order_notes = forms.CharField(
        label="Order notes (office only)", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    location_instructions = forms.CharField(
        label="Location instructions", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    driver_notes = forms.CharField(label="Driver notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, choices, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in _address_fields().items():
            self.fields[name] = field
        self.fields["service_level"].choices = _blank(choices.service_levels, "None")
        if editing:
            del self.fields["order_no"]
            del self.fields["order_type"]
        else:
            del self.fields["version"]

    customer_fields = ("customer_name", "customer_mobile", "customer_phone", "customer_email", "customer_reference")
    window_fields = ("required_date", "required_time_from", "required_time_to")
    note_fields = ("order_notes", "location_instructions", "driver_notes")

    def group(self, names):
        return [self[name] for name in names if name in self.fields]


class LineForm(forms.Form):
    """One item line; `sequence` names its leg in a multi order."""

    line_no = forms.IntegerField(label="Line", min_value=1, max_value=9999)
    sequence = forms.IntegerField(label="Leg", min_value=1, max_value=20, required=False)
    sku = forms.CharField(label="SKU", max_length=50)
    description = forms.CharField(max_length=200, required=False)
    quantity = forms.IntegerField(label="Qty", min_value=1, max_value=100000, initial=1)
    weight_kg = forms.DecimalField(label="Weight kg", max_digits=9, decimal_places=3, min_value=0, required=False)
    cube_m3 = forms.DecimalField(label="Cube m³", max_digits=9, decimal_places=4, min_value=0, required=False)
    stock_location = forms.ChoiceField(label="Stock location")
    on_hand_date = forms.DateField(label="On hand", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    delivery_method = forms.ChoiceField(label="Delivery method")
    assembly_minutes = forms.IntegerField(label="Assembly min", min_value=0, max_value=1440, required=False)
    DELETE = forms.BooleanField(label="Remove", required=False)

    # The line's fields as services.LINE_FIELDS lists them (its free-text notes are not in the grid),
    # after the line and leg numbers.
    columns = ("line_no", "sequence", *(f for f in LINE_FIELDS if f != "notes"))

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stock_location"].choices = _blank(choices.stock_locations, "Choose…")
        self.fields["delivery_method"].choices = _blank(choices.delivery_methods, "Choose…")

    @property
    def removed(self):
        return self.is_bound and self.data.get(self.add_prefix("DELETE")) in ("on", "true", "1")


class GroupForm(forms.Form):
    """One leg of a multi order: where and when."""

    sequence = forms.IntegerField(label="Leg", min_value=1, max_value=20)
    group_type = forms.ChoiceField(label="Leg type", choices=OrderGroup.Type.choices)
    required_date = forms.DateField(
        label="Required date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    required_time_from = forms.TimeField(
        label="Window from", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    required_time_to = forms.TimeField(
        label="Window to", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    DELETE = forms.BooleanField(label="Remove this leg", required=False)

    def __init__(self, *args, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in _address_fields().items():
            self.fields[name] = field
        if editing:
            # Legs are added or removed only when the order is made; afterwards they are edited in place.
            del self.fields["DELETE"]
            self.fields["sequence"].widget = forms.HiddenInput()

    @property
    def removed(self):
        return self.is_bound and self.data.get(self.add_prefix("DELETE")) in ("on", "true", "1")


class NoteForm(forms.Form):
    """Inline editing of driver notes or location instructions."""

    value = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    original = forms.CharField(required=False, max_length=5000)


class StatusMoveForm(forms.Form):
    """Move an order's status by hand, with the reason written down."""

    target = forms.ChoiceField(label="New status", choices=Order.Status.choices)
    reason = forms.CharField(label="Reason", max_length=500)
    failure_reason = forms.CharField(label="Failure reason", required=False, max_length=20)
