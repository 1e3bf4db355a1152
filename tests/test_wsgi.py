"""The production WSGI entry (stream_portal/wsgi.py) freezes what it loaded and collects each
request's cyclic garbage when the request finishes (docs/performance.md, memory per web worker)."""

import os
import subprocess
import sys

SCRIPT = """
import gc
import stream_portal.wsgi as wsgi
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished
receivers = request_finished._live_receivers(WSGIHandler)[0]
test_client = request_finished._live_receivers(None)[0]
print(gc.get_freeze_count() > 50000, wsgi._collect_request_garbage in receivers, receivers[-1].__name__,
      wsgi._collect_request_garbage in test_client)
"""


def test_the_wsgi_module_freezes_what_it_loaded_and_collects_after_each_request():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "stream_portal.settings", "SECRET_KEY": "x"}
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=False)

    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True", "_collect_request_garbage", "False"]


GENERATIONS = """
import gc
import stream_portal.wsgi as wsgi
calls = []
real = gc.collect
class Recorder:
    get_count = staticmethod(gc.get_count)
    get_objects = staticmethod(gc.get_objects)
    freeze = staticmethod(gc.freeze)
    @staticmethod
    def collect(generation=2):
        calls.append(generation)
        return real(generation)
wsgi.gc = Recorder
wsgi._collect_request_garbage()
calls.clear()
small = [[] for _ in range(100)]          # a small request: the collector never runs during it
wsgi._collect_request_garbage()
big = [[i] for i in range(100_000)]       # a big one: it runs on its own, garbage may be older
wsgi._collect_request_garbage()
for _ in range(wsgi.FULL_EVERY):
    wsgi._collect_request_garbage()
print(wsgi.FULL_EVERY, *calls)
"""


def test_a_small_request_has_its_young_generation_collected_and_a_big_one_or_every_tenth_the_whole_heap():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "stream_portal.settings", "SECRET_KEY": "x"}
    run = subprocess.run([sys.executable, "-c", GENERATIONS], capture_output=True, text=True, env=env, check=False)

    assert run.returncode == 0, run.stderr
    every, *calls = (int(c) for c in run.stdout.split())
    assert calls[:2] == [0, 2]
    assert calls[2:] == [0] * (every - 1) + [2]


REFREEZE = """
import gc
import stream_portal.wsgi as wsgi
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished

frozen = gc.get_freeze_count()
built_lazily = [[n] for n in range(5000)]  # what a first request leaves behind, live
request_finished.send(sender=WSGIHandler)
print(gc.get_freeze_count() - frozen >= 5000, len(gc.get_objects()) < wsgi.REFREEZE_OVER, wsgi._refreezes)

garbage = [[n] for n in range(50)]
garbage.append(garbage)  # a cycle: the request's own garbage is still collected
del garbage
frozen = gc.get_freeze_count()
request_finished.send(sender=WSGIHandler)
print(gc.get_freeze_count() == frozen, wsgi._refreezes)

wsgi._refreezes = wsgi.REFREEZES
more = [[n] for n in range(5000)]
request_finished.send(sender=WSGIHandler)
print(gc.get_freeze_count() == frozen, len(gc.get_objects()) >= 5000)
"""


def test_what_the_first_requests_leave_live_is_frozen_too_a_bounded_number_of_times():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "stream_portal.settings", "SECRET_KEY": "x"}
    run = subprocess.run([sys.executable, "-c", REFREEZE], capture_output=True, text=True, env=env, check=False)

    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True", "1", "True", "1", "True", "True"]
