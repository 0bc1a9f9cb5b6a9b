"""Background tasks (django-tasks): inline with ImmediateBackend, `db_worker` in production."""

from django_tasks import task

from .models import AttemptTrigger


@task()
def process_webhook_event(event_id: int, via: str = AttemptTrigger.DELIVERY) -> str:
    from .services import process_event

    return process_event(event_id=event_id, via=AttemptTrigger(via)).status


@task()
def drain_webhook_events() -> int:
    """Claim and process one batch of received deliveries (django-tasks-db; see draining.py)."""
    from .draining import drain_received_events

    return drain_received_events()


@task()
def run_reprocess_job(job_id: int) -> str:
    """A bulk reprocess started from the admin (webhooks/reprocessing.py)."""
    from .reprocessing import run_reprocess_job as run_job

    return run_job(job_id=job_id).status
