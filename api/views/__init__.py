"""The REST API's views, one module per resource: `meetings` (meetings, scheduling, targets)
and `webhook_events` (stored deliveries)."""
