"""Wiring: training runs get their trackers through training.observers, and a
finished loop round (the ``loop_round.finished`` project event) is tracked
after its transaction commits."""

from django.dispatch import receiver

from annotation.signals import project_event
from integrations.tracking.rounds import loop_round_track_on_commit
from integrations.tracking.runs import run_tracking_for
from training.observers import run_observer_register

run_observer_register(name="experiment-tracking", factory=run_tracking_for)


@receiver(project_event, dispatch_uid="integrations-tracking-loop-rounds")
def loop_round_finished_tracked(sender, *, name: str, data: dict, **kwargs):
    if name == "loop_round.finished":
        loop_round_track_on_commit(round_id=data["round_id"])
