"""Realistic demo data (`manage.py seed_demo_data`): `seeding` is the entry point.

- `seeding`: the seeder and `seed_demo_data`.
- `story`: what happens to one booking (triggers, timing, delivery outcome, meeting state).
- `bodies`: the Cal.com body templates, built with `calcom.bodies`.
- `catalogue`: names, companies, organizers, event types, addresses, headers, failures.
- `copy`: writing rows fast (COPY / executemany, batches, background writer, indexes).
"""
