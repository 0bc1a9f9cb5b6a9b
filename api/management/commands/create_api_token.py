from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.services import ApiTokenRefused, issue_api_token


class Command(BaseCommand):
    help = (
        "Print the REST API token of a staff user (created if missing). Send it as "
        "`Authorization: Token <token>`."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace the user's token with a new one (the old one stops working).",
        )

    def handle(self, *args, username: str, rotate: bool, **options) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        try:
            token = issue_api_token(user=user, rotate=rotate)
        except ApiTokenRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(token.key)
