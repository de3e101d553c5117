from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.services.users import user_by_username, user_password_reset_link


class Command(BaseCommand):
    help = ("Disable USERNAME's password, sessions and API tokens and print a one-time link "
            "to choose a new one.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--base-url", default="",
                            help="The site's origin, e.g. https://palate.example.org, to print "
                                 "a full URL (default: the path only).")

    def handle(self, *args, username, base_url, **options):
        try:
            link = user_password_reset_link(actor=None, user=user_by_username(username))
        except DomainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"password of {username} disabled; the link works once, "
                          f"until {link.expires_at:%Y-%m-%d %H:%M} UTC:")
        self.stdout.write(base_url.rstrip("/") + link.path)
