from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.services.users import user_by_username, user_forget


class Command(BaseCommand):
    help = ("Remove USERNAME's personal data (name, e-mail, password, tokens, memberships) and "
            "keep their annotations under a pseudonym. Cannot be undone.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, username, yes, **options):
        try:
            user = user_by_username(username)
        except DomainError as error:
            raise CommandError(str(error)) from None
        if not yes and input(f"Forget {username}? This cannot be undone. [y/N] ").strip().lower() != "y":
            raise CommandError("cancelled")
        try:
            pseudonym = user_forget(actor=None, user=user)
        except DomainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{username} forgotten; their annotations now belong to {pseudonym}")
