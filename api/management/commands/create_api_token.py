from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.tokens import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, api_token_create


class Command(BaseCommand):
    help = "Make an API token for a user and print its key; the key cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--days", type=int, default=DEFAULT_TOKEN_DAYS,
            help=f"days until the token expires (1 to {MAX_TOKEN_DAYS}; default {DEFAULT_TOKEN_DAYS})",
        )
        parser.add_argument("--name", default="", help="what the token is for, shown on the tokens page")

    def handle(self, *args, username: str, days: int, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive")
        try:
            token, key = api_token_create(user=user, name=name, days=days)
        except ValidationError as error:
            raise CommandError("; ".join(f"--{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()))
        self.stderr.write(
            f"API token for {username}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC "
            "(shown once; send it as 'Authorization: Bearer <token>'):"
        )
        self.stdout.write(key)
