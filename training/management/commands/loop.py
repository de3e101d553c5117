"""`manage.py loop SLUG [--once] [--sync]`: one turn of the training loop on demand.

Without ``--once`` it does what beat does: checks the project's loop setting
(enabled, enough new pairs, not too soon) and starts a round when due. With
``--once`` it starts a round now whatever the schedule says. ``--sync`` runs
the round in this process instead of sending it to a worker; a round already
running is then continued here (e.g. after its worker died).
"""

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.models import Project
from training.loop.models import LoopRound, RoundStatus
from training.loop.services import (
    loop_round_advance,
    loop_round_start,
    loop_round_summary,
    loop_setting_for,
    loop_tick,
)


class Command(BaseCommand):
    help = ("Run the project's training loop: snapshot → reward model → DPO → evaluation → (on a win) "
            "new candidates from the new policy.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--once", action="store_true",
                            help="Start a round now, ignoring the schedule's conditions.")
        parser.add_argument("--sync", action="store_true",
                            help="Run the round in this process instead of queueing it for a worker.")

    def handle(self, *args, slug, once, sync, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        setting = loop_setting_for(project=project)
        running = LoopRound.objects.filter(project=project, status=RoundStatus.RUNNING).first()
        try:
            if running is not None:
                if not sync:
                    raise CommandError(f"round {running.number} is still running ({running.stage}); "
                                       "--sync continues it here")
                rnd = running
            elif once:
                rnd = loop_round_start(project=project, enqueue=not sync, via="command")
            else:
                message = loop_tick(setting_id=setting.pk, enqueue=not sync)
                self.stdout.write(message)
                rnd = LoopRound.objects.filter(project=project, status=RoundStatus.RUNNING).first()
                if rnd is None or not sync:
                    return
        except DomainError as error:
            raise CommandError(str(error)) from None
        if not sync:
            self.stdout.write(f"round {rnd.number} queued for a training worker")
            return
        self.stdout.write(f"round {rnd.number}: running here")
        rnd = loop_round_advance(round_id=rnd.pk)
        self.stdout.write(loop_round_summary(rnd))
        if rnd.status == RoundStatus.RUNNING:
            self.stdout.write("the round waits on a run or job held by another worker; "
                              "it continues when that finishes")
        elif rnd.status != RoundStatus.SUCCEEDED:
            raise CommandError(f"round {rnd.number} {rnd.status}")
