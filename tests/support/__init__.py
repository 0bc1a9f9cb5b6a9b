"""Helpers the tests share that are not fixtures: Cal.com bodies, fake servers (Cal.com, SMTP,
Slack), live server processes, database helpers. Fixtures live in the conftest.py files."""
