from generation.management.commands.generate import Command as GenerateCommand
from generation.models import BackendName, JobKind
from generation.services.jobs import generation_job_create


class Command(GenerateCommand):
    help = ("Let a judge model label a project's open items through the labeling queue, as a "
            "labeler account of kind model: pairs in two passes with positions swapped; K-way "
            "rankings pair by pair (both orders), aggregated by Copeland's rule.")
    kind = JobKind.LABEL

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--model", action="append", dest="models",
                            help="The judge model (default: the default policy).")
        parser.add_argument("--backend", choices=BackendName.values, default="")
        parser.add_argument("--max-items", type=int, default=None)
        parser.add_argument("--max-tokens", type=int, default=None)
        parser.add_argument("--queue", action="store_true")

    def create_job(self, project, options):
        return generation_job_create(
            project=project, kind=self.kind, model_names=options["models"],
            backend=options["backend"], sampling=self.sampling(options),
            max_items=options["max_items"], enqueue=options["queue"])
