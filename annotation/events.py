"""Project events other systems can subscribe to (webhooks, in integrations/).

One registry of names, read by the services that emit, the webhook API that
validates subscriptions and the README. annotation imports nothing of the
other apps, so an event is announced through a signal (annotation.signals)
and the integrations app reacts; training emits through the same function.

``event_emit`` is called inside the emitting service's transaction: a rolled
back transaction announces nothing, and receivers queue their work on commit.
"""

import uuid

from annotation.signals import project_event

EVENTS: dict[str, str] = {
    "snapshot.built": "a dataset snapshot finished building (version, content hash, counts)",
    "export.ready": "a dataset export's archive can be downloaded",
    "training_run.finished": "a training run succeeded or failed (with its held-out metrics)",
    "loop_round.finished": "a round of the training loop succeeded or failed",
    "item.needs_adjudication": "an item's consensus became too weak and waits for an admin",
    "project.queue_empty": "a labeler asked for work and the project has no open item left",
}
# Sent only by the webhook test endpoint; subscriptions need not list it.
TEST_EVENT = "webhook.test"


def event_name_check(name: str) -> str:
    if name not in EVENTS and name != TEST_EVENT:
        raise KeyError(f"unknown project event {name!r}; known: {', '.join(EVENTS)}")
    return name


def event_emit(*, project_id: int, name: str, data: dict) -> str:
    """Announce ``name`` for the project; returns the event id."""
    event_id = str(uuid.uuid4())
    project_event.send(sender=event_name_check(name), project_id=project_id, name=name,
                       event_id=event_id, data=data)
    return event_id
