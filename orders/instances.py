"""Model instances made by the thousand (a bulk create, an import batch) without `Model.__init__`.

`new(model, **values)` is `model(**values)` for the rows a create builds in memory before it writes
them: the same attributes, defaults (a callable one called per row) and related objects cached as
Django caches them, without `Model.__init__`'s per-field work (~20 µs an instance). No model it is
used for has init signals or a custom `__init__`. Shared by services.py (orders, groups, lines,
movement lines, history), trunking.py (a new order's movements) and events.py (outbox rows).
"""

from django.db.models.base import ModelState

_BLUEPRINTS = {}


def blueprint(model):
    """({attname: constant default}, [(attname, default callable)], {foreign key name: field}) for `model`."""
    if model not in _BLUEPRINTS:
        constant, varying, related = {}, [], {}
        for f in model._meta.concrete_fields:
            if f.has_default() and callable(f.default):
                varying.append((f.attname, f.default))
            else:
                constant[f.attname] = f.get_default()
            if f.is_relation:
                related[f.name] = f
        _BLUEPRINTS[model] = (constant, varying, related)
    return _BLUEPRINTS[model]


def new(model, **values):
    """`model(**values)`, the fields given by name (a foreign key as its object or `<name>_id`)."""
    constant, varying, related = blueprint(model)
    obj = model.__new__(model)
    obj._state = ModelState()
    attrs = obj.__dict__
    attrs.update(constant)
    for attname, default in varying:
        if attname not in values:
            attrs[attname] = default()
    for name, value in values.items():
        field = related.get(name)
        if field is None:
            attrs[name] = value
        else:
            attrs[field.attname] = None if value is None else value.pk
            obj._state.fields_cache[name] = value
    return obj
