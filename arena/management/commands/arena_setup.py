from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.models import Project
from arena.services.config import arena_configure, pool_add


def _model(text: str) -> tuple[str, float]:
    name, _, weight = text.partition(":")
    try:
        return name, float(weight) if weight else 1.0
    except ValueError:
        raise CommandError(f"'{text}': the weight after ':' must be a number") from None


class Command(BaseCommand):
    help = ("Turn arena mode on for a pairwise project and put models in its pool "
            "(NAME or NAME:WEIGHT); the rest of the settings are on the arena settings page.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("models", nargs="*", help="registered policy models, NAME[:WEIGHT]")
        parser.add_argument("--max-turns", type=int)
        parser.add_argument("--max-output-tokens", type=int)
        parser.add_argument("--max-input-chars", type=int)
        parser.add_argument("--battles-per-hour", type=int)
        parser.add_argument("--tokens-per-hour", type=int)
        parser.add_argument("--suggest", action="append", default=None, help="a suggested prompt")

    def handle(self, *args, slug, models, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        fields = {name: options[name] for name in ("max_turns", "max_output_tokens", "max_input_chars",
                                                   "battles_per_hour", "tokens_per_hour")
                  if options[name] is not None}
        if options["suggest"]:
            fields["suggested_prompts"] = options["suggest"]
        try:
            arena = arena_configure(project=project, **fields)
            for text in models:
                name, weight = _model(text)
                pool_add(arena=arena, name=name, weight=weight)
        except DomainError as error:
            raise CommandError(str(error)) from None
        pool = ", ".join(f"{e.spec.name} ({e.weight:g})" for e in arena.pool.filter(is_active=True)
                         .select_related("spec"))
        self.stdout.write(f"arena of {slug}: pool {pool or 'empty (add at least two models)'}")
