"""Print what an operator needs at start-up: where Cal.com must post, where the admin is."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from common.envfile import env_file_path
from webhooks.ops_selectors import MIGRATIONS_NOT_APPLIED, database_problem


class Command(BaseCommand):
    help = "Print the webhook URL, admin URL and signing-secret state (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000", help="address the server listens on")

    def handle(self, *args, bind: str, **options):
        webhook_url = settings.PUBLIC_BASE_URL + settings.WEBHOOK_PATH
        secrets = [
            name
            for name in ("CAL_COM_WEBHOOK_SECRET", "CAL_COM_WEBHOOK_SECRET_PROD")
            if getattr(settings, name)
        ]
        try:
            problem = database_problem()
        except DatabaseError as exc:
            problem = str(exc).splitlines()[0]
        database = {
            "": "ready (migrations applied)",
            MIGRATIONS_NOT_APPLIED: "MIGRATIONS NOT APPLIED - run .venv/bin/python manage.py migrate",
        }.get(problem, f"NOT READY: {problem}")
        config = env_file_path()
        lines = [
            "",
            "VANI Cal.com webhook service",
            f"  environment:   {settings.ENVIRONMENT}",
            f"  settings from: environment, then {config}" + ("" if config.exists() else " (missing)"),
            f"  database:      {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, {database}",
            f"  time zone:     {settings.TIME_ZONE} (times in the console)",
            f"  tasks backend: {settings.TASKS_BACKEND.rsplit('.', 1)[-1]}",
            f"  webhook URL:   {webhook_url}   (give this to Cal.com)",
            f"  admin URL:     http://{bind}/admin/",
        ]
        if not webhook_url.startswith("https://"):
            lines.append(
                "  note: Cal.com's cloud only delivers to public https URLs; expose this port "
                "(e.g. `ngrok http PORT`) and set PUBLIC_BASE_URL to the tunnel's URL"
            )
        if secrets:
            lines.append(f"  signing secret: configured ({', '.join(secrets)})")
        else:
            lines.append(
                "  signing secret: NOT CONFIGURED - deliveries are accepted unverified "
                "(set CAL_COM_WEBHOOK_SECRET; production refuses to start without it)"
            )
        if settings.CAL_COM_API_KEY:
            # Asks Cal.com (short timeout, never raises) whether it delivers to webhook_url.
            from webhooks.subscription import describe_registration

            lines.append(f"  {describe_registration()}")
        lines.append("  create an admin user: .venv/bin/python manage.py createsuperuser")
        lines.append("")
        style = self.style.WARNING if not secrets else self.style.SUCCESS
        for line in lines:
            if "signing secret" in line:
                line = style(line)
            elif "NOT" in line and "database" in line:
                line = self.style.ERROR(line)
            self.stdout.write(line)
