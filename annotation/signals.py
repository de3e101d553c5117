"""Signals other apps listen to. annotation imports nothing of the other apps
(DESIGN.md), so it announces events and they react."""

from django.dispatch import Signal

# Sent by `seed_demo` inside its transaction, with ``project`` (the demo project
# whose prompts wait for model candidates), ``creator`` (the demo admin) and
# ``write`` (prints a line for the person running the command). A receiver
# returns a line to print, or None.
demo_seeded = Signal()

# Sent by annotation.events.event_emit inside the transaction of the service
# where a project event happened (a snapshot built, an export ready, a training
# run finished, …), with ``project_id``, ``name`` (a key of annotation.events.EVENTS),
# ``event_id`` (a UUID string) and ``data`` (JSON-serializable). The integrations
# app turns it into webhook deliveries, which roll back with that transaction.
project_event = Signal()
