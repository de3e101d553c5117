from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.services.backups import project_restore


class Command(BaseCommand):
    help = ("Restore a project written by backup_project, with its original ids, into a database "
            "that does not hold it. Users it references but this database lacks are created "
            "inactive, without a usable password.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        try:
            project = project_restore(path=file)
        except DomainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"restored project {project.slug} (id {project.pk})")
