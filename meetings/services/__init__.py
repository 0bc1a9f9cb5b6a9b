"""Write-side business logic for meetings, one module per purpose.

- `apply`: apply a parsed Cal.com event to its meeting (lock, plan, merge, link uids).
- `bookings`: schedule, link and store bookings made through Cal.com's API.
- `targets`: create targets and link them to meetings.

Import from the module itself; this package re-exports nothing.
"""
