"""Who and what the demo data is about: names, companies, organizers, event types, the
addresses deliveries come from, their headers, and the failures a worker meets.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Priya",
    "Tom",
    "Ana",
    "Lukas",
    "Mei",
    "Omar",
    "Sofia",
    "James",
    "Aisha",
    "Daniel",
    "Yuki",
    "Elena",
    "Kwame",
    "Ingrid",
    "Rahul",
    "Chloe",
    "Mateo",
    "Fatima",
    "Noah",
    "Hana",
)
LAST_NAMES = (
    "Shah",
    "Becker",
    "Silva",
    "Novak",
    "Chen",
    "Haddad",
    "Rossi",
    "Walker",
    "Okafor",
    "Kim",
    "Tanaka",
    "Petrova",
    "Mensah",
    "Larsen",
    "Gupta",
    "Martin",
    "Lopez",
    "Rahman",
    "Evans",
    "Sato",
)
COMPANIES = (
    ("Northwind", "northwind.example"),
    ("Acme Logistics", "acme-logistics.example"),
    ("Globex", "globex.example"),
    ("Initech", "initech.example"),
    ("Umbrella Health", "umbrella.example"),
    ("Hooli", "hooli.example"),
    ("Stark Retail", "stark-retail.example"),
    ("Wayne Foods", "waynefoods.example"),
    ("Tyrell Robotics", "tyrell.example"),
    ("Soylent Labs", "soylent.example"),
)
ORGANIZERS = (
    (4821, "Alex Rivera", "alex@rivera-consulting.com", "alexrivera"),
    (4822, "Jordan Lee", "jordan@rivera-consulting.com", "jordanlee"),
    (4823, "Sam Patel", "sam@rivera-consulting.com", "sampatel"),
)
EVENT_TYPES = (
    ("30 Min Meeting", "30min", 30, 0),
    ("Discovery Call", "discovery", 45, 0),
    ("Paid Consultation", "paid-consultation", 60, 15000),
)
CALCOM_IPS = tuple(f"3.121.45.{n}" for n in range(10, 30))
PROBE_IPS = tuple(f"185.220.101.{n}" for n in range(1, 60))
CANCEL_REASONS = ("Conflict with another call", "No longer needed", "Budget freeze", "")

HEADERS_SIGNED = {
    "Content-Type": "application/json",
    "X-Cal-Signature-256": "***",
    "X-Cal-Webhook-Version": "2021-10-20",
    "User-Agent": "node",
    "Accept": "*/*",
    "Content-Length": "0",
    "Host": "vani.example.com",
}
HEADERS_UNSIGNED = {k: v for k, v in HEADERS_SIGNED.items() if k != "X-Cal-Signature-256"}

FAILURES = (
    (
        'OperationalError: could not obtain lock on row in relation "meetings"',
        "django/db/backends/utils.py",
        "psycopg2.errors.LockNotAvailable",
    ),
    (
        'IntegrityError: duplicate key value violates unique constraint "meetings_bookinguid_uid_key"',
        "django/db/models/query.py",
        "psycopg2.errors.UniqueViolation",
    ),
    (
        "DataError: value too long for type character varying(255)",
        "django/db/models/sql/compiler.py",
        "psycopg2.errors.StringDataRightTruncation",
    ),
)


def failure_traceback(error: str, where: str, cause: str) -> str:
    """A worker's traceback for one of FAILURES, as the admin shows it."""
    return (
        "Traceback (most recent call last):\n"
        '  File "/srv/vani/webhooks/services.py", line 243, in process_event\n'
        "    outcome, reason = _apply(event=event)\n"
        '  File "/srv/vani/meetings/services/apply.py", line 47, in apply_calcom_event\n'
        "    meeting, created = _lock_meeting(event=event, uids=uids, booking_ids=booking_ids)\n"
        f'  File "/srv/vani/.venv/lib/python3.11/site-packages/{where}", line 105, in execute\n'
        "    return self.cursor.execute(sql, params)\n"
        f"{cause}: {error.split(': ', 1)[1]}\n"
    )
