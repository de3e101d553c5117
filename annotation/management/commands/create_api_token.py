from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation.services.tokens import token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label to recognise the token by.")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user '{username}'")
        token, raw = token_create(user=user, name=name, via="command")
        self.stdout.write(f"token {token.prefix} for {username}, expires {token.expires_at:%Y-%m-%d}:")
        self.stdout.write(raw)
