"""The REST API under /api/ (staff only): meetings, targets, scheduling through Cal.com.

The webhook-event endpoints live in webhooks/api.py; every route is in meetings/urls_api.py.
Views here only parse, delegate to services/selectors and serialise.
"""
