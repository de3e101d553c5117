"""Abuse and cost limits: per-labeler battles and tokens per hour, and a cap
on concurrent streams per generation server.

Why a cap per server: under gunicorn's sync workers a streaming answer holds
its worker for the whole turn. Streams are bounded three ways: each server
takes at most PALATE_ARENA_MAX_STREAMS at once (further turns are refused with
"busy", never queued inside a worker), a turn ends at PALATE_ARENA_TURN_TIMEOUT_S
whatever happens, and each answer is at most the arena's max_output_tokens.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Membership
from arena.models import Arena, Battle, StreamSlot

WINDOW = timedelta(hours=1)


class RateLimited(Conflict):
    code = "rate_limited"


class ServerBusy(Conflict):
    code = "server_busy"


def _lock_labeler(*, arena: Arena, user) -> None:
    # The membership row lock serializes one labeler's concurrent starts, so two
    # requests cannot both pass the count below and then both insert.
    Membership.objects.select_for_update().filter(project=arena.project_id, user=user).first()


def battles_check(*, arena: Arena, user) -> None:
    """Inside the starting transaction: refuse a battle over the hourly budget."""
    _lock_labeler(arena=arena, user=user)
    since = timezone.now() - WINDOW
    started = Battle.objects.filter(arena=arena, user=user, created_at__gte=since).count()
    if started >= arena.battles_per_hour:
        raise RateLimited(f"you have started {started} battles in the last hour; the limit is "
                          f"{arena.battles_per_hour}. Try again later.", field="battles_per_hour")


def tokens_used(*, arena: Arena, user) -> int:
    """Tokens written for the labeler in battles started within the hour. The
    battle's running total, not its turns: a regenerated turn is deleted, but
    the tokens it cost stay counted."""
    since = timezone.now() - WINDOW
    total = Battle.objects.filter(arena=arena, user=user, created_at__gte=since) \
        .aggregate(n=Sum("tokens"))["n"]
    return int(total or 0)


def tokens_check(*, arena: Arena, user) -> None:
    """Refuse a turn that could take the labeler over the hourly token budget
    (both models may write max_output_tokens)."""
    _lock_labeler(arena=arena, user=user)
    used = tokens_used(arena=arena, user=user)
    if used + 2 * arena.max_output_tokens > arena.tokens_per_hour:
        raise RateLimited(f"the models wrote {used} tokens for you in the last hour; a turn may "
                          f"take {2 * arena.max_output_tokens} more and the limit is "
                          f"{arena.tokens_per_hour}. Try again later.", field="tokens_per_hour")


def stream_slot_take(*, server: str, battle: Battle) -> StreamSlot:
    """One of the server's PALATE_ARENA_MAX_STREAMS slots, or ServerBusy.

    Each slot number is a unique row: two processes inserting the same slot
    cannot both succeed, so the cap holds without a count-then-insert race.
    Slots of crashed workers expire after the turn timeout.
    """
    now = timezone.now()
    StreamSlot.objects.filter(server=server, expires_at__lt=now).delete()
    expires = now + timedelta(seconds=settings.PALATE_ARENA_TURN_TIMEOUT_S + 30)
    taken = set(StreamSlot.objects.filter(server=server).values_list("slot", flat=True))
    for slot in range(settings.PALATE_ARENA_MAX_STREAMS):
        if slot in taken:
            continue
        try:
            with transaction.atomic():
                return StreamSlot.objects.create(server=server, slot=slot, battle=battle,
                                                 expires_at=expires)
        except IntegrityError:
            continue  # another process took it first
    raise ServerBusy(f"the generation server is answering {settings.PALATE_ARENA_MAX_STREAMS} "
                     "streams already; try again in a moment", field="server")


def stream_slots_release(slots: list[StreamSlot]) -> None:
    StreamSlot.objects.filter(pk__in=[s.pk for s in slots]).delete()
