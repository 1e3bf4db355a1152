"""The naive baseline: the same create, bulk create and list a first-week Django REST framework app
would write, on the SAME models and tables, with nothing else (no auth, no idempotency, no
validation beyond the serializers, no trunking, history or outbox). Run by the bench under its own
gunicorn: `DJANGO_SETTINGS_MODULE=bench.naive.settings gunicorn bench.naive.wsgi`.
"""
