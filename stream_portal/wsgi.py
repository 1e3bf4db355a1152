"""WSGI entry point: `gunicorn stream_portal.wsgi`.

Memory per web worker (docs/performance.md): a request leaves reference cycles behind (Django's
prefetch caches point from an order to its lines and back), which only a full collection of the
cyclic garbage collector frees. With the ~500,000 objects a loaded worker holds, CPython runs one
rarely (each costs ~100 ms), so the garbage of many requests piles up and the worker's RSS climbed
from 83 to 110 MiB under load. So, once everything is loaded, those objects are frozen (never
scanned again), and after each request served through this WSGI handler the garbage of that
request alone is collected: ~1.7 ms, paid back by the full collections that no longer happen (the
CPU of 200 creates and lists was the same, measured), and the worker stays at ~91 MiB. Collecting
only the young generations is not enough: a bulk request's objects live long enough to reach the
old one, and workers grew to 200 MiB in the bench. Requests made by Django's test client are not
WSGI requests (their sender is not WSGIHandler) and are left alone.

Which generations: a request during which the collector never ran on its own (it allocated fewer
than gc's first threshold, 2,000 objects net: an inbound event, a create, a list page) has all
its garbage still in the youngest generation, so collecting that one frees all of it (0.1 ms
instead of 2-20 ms for the whole heap, measured in a worker with an inbound event). A request
during which the collector ran (a bulk create, an import) may have pushed garbage into the older
generations, and gets the full collection, as does every 10th request (FULL_EVERY). Cycles that
reach the older generations without the collector running are rare but real: with a full collection
only every 100th request, 100 API list pages left a worker at 135-140 MiB instead of 91; every 10th
keeps it at 91-95 MiB. Inbound events on the bench: 164/s with every 10th, 175/s with every 100th,
97/s with a full collection after every request (docs/performance.md).

What the first requests build lazily (modules imported on first use, compiled regexes, DRF's and
Celery's objects made once) is live but not frozen, and each per-request collection traversed it:
~16,000 objects after the first create made every collection 7–30 ms on the bench machine (36 % of
a web worker's samples under the create load, py-spy), where the request's own garbage takes
0.1–0.2 ms. So when more than REFREEZE_OVER objects survive a collection (live, by definition),
they are frozen as well. Frozen objects are still freed by reference counting; only a cycle among
them would stay, so a process freezes at most REFREEZES times (the first requests of each kind).
"""

import gc
import os

from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stream_portal.settings")

application = get_wsgi_application()


def _load_and_freeze():
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - import every view now, so they are frozen too
    gc.collect()
    gc.freeze()


FULL_EVERY = 10
REFREEZE_OVER = 1000
REFREEZES = 20
_state = {"left": (0, 0, 0), "since_full": 0}
_refreezes = 0


def _collect_request_garbage(**kwargs):
    global _refreezes
    _state["since_full"] += 1
    # The collector ran during the request if the older generations' counts moved since we left them.
    if gc.get_count()[1:] == _state["left"][1:] and _state["since_full"] < FULL_EVERY:
        gc.collect(0)
    else:
        gc.collect()
        _state["since_full"] = 0
        # What survives a full collection is live: freeze it when it is a lot (the first requests
        # of each kind), a bounded number of times.
        if _refreezes < REFREEZES and len(gc.get_objects()) > REFREEZE_OVER:
            gc.freeze()
            _refreezes += 1
    _state["left"] = gc.get_count()


_load_and_freeze()
request_finished.connect(_collect_request_garbage, sender=WSGIHandler, dispatch_uid="stream_portal.wsgi.collect")
