# The console's e-mail search reads its page off (attendee_email, received_at DESC, id DESC)
# instead of sorting every event of the address; built without blocking deliveries.

from django.db import migrations, models

from common.migration_operations import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('meetings', '0004_meeting_host_no_show'),
        ('webhooks', '0007_daily_event_counts'),
    ]

    operations = [
        AddIndexOnline(
            model_name='webhookevent',
            index=models.Index(
                condition=models.Q(('attendee_email', ''), _negated=True),
                fields=['attendee_email', '-received_at', '-id'],
                name='wh_email_received_idx',
            ),
        ),
        RemoveIndexOnline(
            model_name='webhookevent',
            name='wh_attendee_email_idx',
        ),
    ]
