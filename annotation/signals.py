"""Signals other apps listen to. annotation imports nothing of the other apps
(DESIGN.md), so it announces events and they react."""

from django.dispatch import Signal

# Sent by `seed_demo` inside its transaction, with ``project`` (the demo project
# whose prompts wait for model candidates), ``creator`` (the demo admin) and
# ``write`` (prints a line for the person running the command). A receiver
# returns a line to print, or None.
demo_seeded = Signal()
