"""Battles: start one, stream a turn from both models side by side, stop,
regenerate, and end a failed one.

A turn is begun (checks, limits, stream slots, the Turn row) before anything is
streamed, so a refusal is an ordinary HTTP error; then ``turn_events`` runs
both models in threads and yields their tokens as they come, interleaved. The
side threads touch no database: the generator that the web server iterates
saves the turn once both answers ended, and releases the slots whatever
happens (a dropped connection closes the generator, which stops both models).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.errors import Conflict, Invalid
from annotation.json_input import json_text_problem
from arena.models import Arena, Battle, BattleStatus, StreamSlot, Turn, TurnStatus
from arena.services import limits
from arena.services.pool import pool_draw
from generation.backends.base import BackendError, SamplingParams
from generation.backends.streaming import (
    Delta,
    StreamEnd,
    openai_stream,
    stream_with_deadline,
    transformers_stream,
)
from generation.backends.transformers_backend import TransformersBackend
from generation.backends.vllm_pool import server_urls
from generation.models import BackendName, ModelSpec
from generation.services.runtime import backend_for, backend_name_for
from generation.strategies import text_clean

SIDES = ("a", "b")
POLL_S = 0.2  # how often a quiet stream looks for a stop request


def _stop_key(turn_id: int) -> str:
    return f"arena:stop:{turn_id}"


@transaction.atomic
def battle_start(*, arena: Arena, user) -> Battle:
    """A new battle between two models drawn from the pool (within the
    labeler's hourly budget). The models' names stay on the server."""
    limits.battles_check(arena=arena, user=user)
    spec_a, spec_b = pool_draw(arena=arena)
    sampling = {**arena.sampling, "max_tokens": arena.max_output_tokens}
    return Battle.objects.create(arena=arena, user=user, model_a=spec_a, model_b=spec_b,
                                 sampling=sampling)


def battle_abandon(*, battle: Battle) -> None:
    """The labeler left an unvoted battle for a new one."""
    Battle.objects.filter(pk=battle.pk, status=BattleStatus.ACTIVE).update(
        status=BattleStatus.ABANDONED, finished_at=timezone.now())


def _user_text_clean(arena: Arena, text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise Invalid("write a prompt first", field="prompt")
    text = text.strip()
    if len(text) > arena.max_input_chars:
        raise Invalid(f"is {len(text)} characters long; the limit is {arena.max_input_chars}",
                      field="prompt")
    problem = json_text_problem(text)
    if problem:
        raise Invalid(problem, field="prompt")
    return text


def server_key(spec: ModelSpec) -> str:
    """Where the model's stream runs: the server URL, or the local checkpoint
    (an in-process transformers model competes for this host's CPUs)."""
    name = backend_name_for(spec)
    if name == BackendName.VLLM_SERVER:
        return (spec.endpoint_url or settings.PALATE_VLLM_URL or "").split(",")[0].split()[0][:300]
    return f"{name}:{spec.path}"[:300]


@dataclass
class TurnRun:
    battle: Battle
    turn: Turn
    slots: list[StreamSlot]
    conversations: dict[str, list[dict]]
    sampling: SamplingParams
    stop: threading.Event = field(default_factory=threading.Event)


def _history(battle: Battle, side: str, turns: list[Turn]) -> list[dict]:
    messages = []
    for turn in turns:
        messages += [{"role": "user", "content": turn.user_text},
                     {"role": "assistant", "content": getattr(turn, f"text_{side}")}]
    return messages


def turn_begin(*, battle: Battle, prompt=None, regenerate: bool = False) -> TurnRun:
    """Check and record a new turn (or the last one again, ``regenerate``) and
    take one stream slot per model; the answers come from ``turn_events``."""
    arena = battle.arena
    with transaction.atomic():
        battle = Battle.objects.select_for_update().get(pk=battle.pk)
        if battle.status != BattleStatus.ACTIVE:
            raise Conflict(f"this battle is {battle.get_status_display().lower()}; start a new one",
                           field="battle")
        turns = list(battle.turns.order_by("index"))
        if any(t.status == TurnStatus.STREAMING for t in turns):
            raise Conflict("the models are still answering; stop them first", field="battle")
        if regenerate:
            if not turns:
                raise Conflict("there is nothing to regenerate yet", field="battle")
            last = turns.pop()
            text = last.user_text
            last.delete()
        else:
            text = _user_text_clean(arena, prompt)
            if len(turns) >= arena.max_turns:
                raise Conflict(f"a battle has at most {arena.max_turns} turns: vote now",
                               field="prompt")
        limits.tokens_check(arena=arena, user=battle.user)
        slots = [limits.stream_slot_take(server=server_key(spec), battle=battle)
                 for spec in (battle.model_a, battle.model_b)]
        turn = Turn.objects.create(battle=battle, index=len(turns), user_text=text)
    conversations = {side: _history(battle, side, turns) + [{"role": "user", "content": text}]
                     for side in SIDES}
    sampling = SamplingParams.from_dict(battle.sampling)
    return TurnRun(battle=battle, turn=turn, slots=slots, conversations=conversations,
                   sampling=sampling)


def turn_stop(*, battle: Battle) -> bool:
    """Ask the battle's streaming turn to stop (seen by whichever process streams it)."""
    turn = battle.turns.filter(status=TurnStatus.STREAMING).order_by("-index").first()
    if turn is None:
        return False
    cache.set(_stop_key(turn.pk), True, timeout=settings.PALATE_ARENA_TURN_TIMEOUT_S + 60)
    return True


def _side_events(spec: ModelSpec, conversation: list[dict], sampling: SamplingParams,
                 stop: threading.Event, seat: int) -> Iterator:
    name = backend_name_for(spec)
    token_timeout = float(settings.PALATE_ARENA_TOKEN_TIMEOUT_S)
    if name == BackendName.VLLM_SERVER:
        urls = server_urls(spec.endpoint_url or settings.PALATE_VLLM_URL or "") or [""]
        return openai_stream(urls[seat % len(urls)], conversation, model=spec.served_name or spec.name,
                             sampling=sampling, stop=stop, timeout=token_timeout,
                             api_key=settings.PALATE_VLLM_API_KEY or "")
    if name == BackendName.VLLM:
        raise BackendError(f"model '{spec.name}' runs on the in-process vLLM engine, which cannot "
                           "stream to a web request; serve it (vllm-server) or use transformers")
    backend = backend_for(spec)
    if not isinstance(backend, TransformersBackend):
        raise BackendError(f"model '{spec.name}' has no backend that can stream ({type(backend).__name__})")
    return transformers_stream(backend, conversation, sampling=sampling, stop=stop, timeout=token_timeout)


def _run_side(side: str, events_of, out: queue.Queue, started: float) -> None:
    """One model's answer into ``out`` as (side, kind, value) tuples; never raises."""
    try:
        first = True
        for event in events_of():
            if isinstance(event, Delta):
                if first:
                    out.put((side, "ttft", int((time.monotonic() - started) * 1000)))
                    first = False
                out.put((side, "delta", event.text))
            elif isinstance(event, StreamEnd):
                out.put((side, "end", event))
    except BackendError as error:
        out.put((side, "error", str(error)))
    except Exception as error:  # a bug or a library failure: still reported, never a hang
        out.put((side, "error", f"{type(error).__name__}: {error}"))


def turn_events(run: TurnRun) -> Iterator[dict]:
    """Both answers as events: {"type": "delta", "side", "text"} as tokens come,
    {"type": "end", "side", "finish", "tokens"} per model, then {"type": "done"} (or
    {"type": "failed", "side", "error"}: the battle is not counted)."""
    battle, turn, stop = run.battle, run.turn, run.stop
    deadline = time.monotonic() + settings.PALATE_ARENA_TURN_TIMEOUT_S
    started = time.monotonic()
    out: queue.Queue = queue.Queue()
    specs = {"a": battle.model_a, "b": battle.model_b}
    texts: dict[str, list[str]] = {side: [] for side in SIDES}
    ends: dict[str, StreamEnd] = {}
    errors: dict[str, str] = {}
    ttft: dict[str, int] = {}
    threads = []
    for seat, side in enumerate(SIDES):
        def events_of(side=side, seat=seat):
            return stream_with_deadline(
                _side_events(specs[side], run.conversations[side], run.sampling, stop, seat + battle.pk),
                deadline=deadline, stop=stop)
        thread = threading.Thread(target=_run_side, args=(side, events_of, out, started),
                                  name=f"arena-{battle.pk}-{side}", daemon=True)
        thread.start()
        threads.append(thread)
    finished = False
    try:
        last_poll = time.monotonic()
        while len(ends) + len(errors) < len(SIDES):
            got: str | None
            try:
                got, kind, value = out.get(timeout=POLL_S)
            except queue.Empty:
                got = None
            now = time.monotonic()
            if now - last_poll >= POLL_S:
                last_poll = now
                if not stop.is_set() and cache.get(_stop_key(turn.pk)):
                    stop.set()  # both generators end at their next token
                if now > deadline + POLL_S * 5:
                    # A model that ignores the stop (a stuck server): give up on it.
                    for s in SIDES:
                        if s not in ends and s not in errors:
                            errors[s] = "the answer took longer than the turn's time limit"
                    break
            if got is None:
                continue
            if kind == "delta":
                texts[got].append(value)
                yield {"type": "delta", "side": got, "text": value}
            elif kind == "ttft":
                ttft[got] = value
            elif kind == "end":
                ends[got] = value
                yield {"type": "end", "side": got, "finish": value.finish_reason,
                       "tokens": value.completion_tokens}
            else:
                errors[got] = value
                stop.set()  # the battle will not count: stop the other model too
        finished = True
    finally:
        if not finished:
            stop.set()  # the client went away: end both generations
        for thread in threads:
            thread.join(timeout=5)
        failure = _turn_save(run, texts=texts, ends=ends, errors=errors, ttft=ttft,
                             dropped=not finished)
        limits.stream_slots_release(run.slots)
        cache.delete(_stop_key(turn.pk))
    if failure:
        yield {"type": "failed", "side": failure[0], "error": failure[1]}
    else:
        yield {"type": "done", "turn": turn.index, "turns_left": battle.arena.max_turns - turn.index - 1}


def _turn_save(run: TurnRun, *, texts, ends, errors, ttft, dropped: bool) -> tuple[str, str] | None:
    """Store the turn; a model that failed (or answered nothing) fails the
    battle. Returns (side, message) of the failure, if any."""
    turn, battle = run.turn, run.battle
    for side in SIDES:
        # Model output may hold NUL, which PostgreSQL text refuses: stored as generation stores it.
        text = text_clean("".join(texts[side]))
        setattr(turn, f"text_{side}", text)
        end = ends.get(side)
        setattr(turn, f"tokens_{side}", end.completion_tokens if end else len(texts[side]))
        setattr(turn, f"finish_{side}", end.finish_reason if end else ("error" if side in errors else ""))
        setattr(turn, f"ttft_{side}_ms", ttft.get(side))
        if side not in errors and end is not None and not text and end.finish_reason != "stopped":
            errors[side] = "the model answered nothing"
    failure = next(((side, errors[side]) for side in SIDES if side in errors), None)
    stopped = run.stop.is_set() and not failure
    if failure:
        turn.status, turn.error = TurnStatus.FAILED, f"model {failure[0].upper()}: {failure[1]}"[:2000]
    elif dropped or stopped:
        turn.status = TurnStatus.STOPPED
    else:
        turn.status = TurnStatus.DONE
    turn.finished_at = timezone.now()
    with transaction.atomic():
        turn.save()
        tokens = turn.tokens_a + turn.tokens_b
        fields: dict = {"tokens": F("tokens") + tokens}
        if failure:
            fields.update(status=BattleStatus.FAILED, error=turn.error, finished_at=timezone.now())
        Battle.objects.filter(pk=battle.pk, status=BattleStatus.ACTIVE).update(**fields)
    return failure
