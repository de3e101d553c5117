from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.errors import DomainError
from annotation.models import Project
from generation import best_of_n
from generation.models import BackendName, JobKind, JobStatus, Strategy
from generation.services.jobs import generation_job_create, generation_job_run


class Command(BaseCommand):
    help = ("Generate candidate responses for a project's prompts and build comparison items. "
            "Runs here with a progress bar; --queue hands the job to a Celery worker instead.")
    kind = JobKind.GENERATE

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--model", action="append", dest="models",
                            help="Registered model (repeatable; two or more for cross_model).")
        parser.add_argument("--backend", choices=BackendName.values, default="")
        parser.add_argument("--n", type=int, default=None, help="Samples per prompt and model.")
        parser.add_argument("--strategy", choices=[*Strategy.values, best_of_n.NAME], default="",
                            help="best_of_n: the active reward model's best sample against its worst.")
        parser.add_argument("--max-items-per-prompt", type=int, default=None)
        parser.add_argument("--temperature", type=float, default=None)
        parser.add_argument("--top-p", type=float, default=None)
        parser.add_argument("--max-tokens", type=int, default=None)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--stop", action="append", default=None)
        parser.add_argument("--queue", action="store_true",
                            help="Queue on the `generation` Celery queue and return.")

    def create_job(self, project, options):
        return generation_job_create(
            project=project, kind=self.kind, model_names=options["models"],
            backend=options["backend"], n=options["n"], sampling=self.sampling(options),
            strategy=options["strategy"], max_items_per_prompt=options["max_items_per_prompt"],
            enqueue=options["queue"])

    @staticmethod
    def sampling(options) -> dict:
        names = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens",
                 "seed": "seed", "stop": "stop"}
        return {key: options[option] for key, option in names.items()
                if options.get(option) is not None}

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"no project with slug '{options['slug']}'")
        try:
            job = self.create_job(project, options)
        except DomainError as error:
            raise CommandError(str(error)) from None
        models = ", ".join(job.model_specs.values_list("name", flat=True))
        self.stdout.write(f"{job.kind} job {job.pk}: {models}, {job.progress_total} to do, "
                          f"sampling {job.sampling}")
        if options["queue"]:
            self.stdout.write("queued on the `generation` queue; a worker runs it "
                              "(celery -A config worker -Q generation)")
            return
        with tqdm(total=job.progress_total, unit="prompt" if job.kind == JobKind.GENERATE
                  else "item", file=self.stdout._out) as bar:
            def progress(current):
                bar.n = current.progress_done
                bar.set_postfix(items=current.items_created, labels=current.annotations_created,
                                tokens=current.tokens_generated, refresh=False)
                bar.refresh()

            job = generation_job_run(job_id=job.pk, on_progress=progress)
        if job is None or job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"job {getattr(job, 'pk', '?')} {getattr(job, 'status', '')}: "
                               f"{getattr(job, 'error', '')}")
        self.stdout.write(self.style.SUCCESS(
            f"job {job.pk} succeeded: {job.responses_created} responses, {job.items_created} items, "
            f"{job.annotations_created} labels, {job.dropped} dropped, "
            f"{job.tokens_generated} tokens"))
