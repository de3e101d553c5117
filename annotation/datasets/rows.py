"""Row shapes of the export formats, produced one at a time from the database."""

import hashlib
import hmac
import json
from collections.abc import Iterator

from django.conf import settings
from django.db import connection

from annotation.datasets.selection import annotations_for_snapshot
from annotation.models import Annotation, DatasetSnapshot

CHUNK = 2000


def labeler_pseudonym(user_id: int) -> str:
    """A stable pseudonymous labeler id: no name or e-mail ever leaves Palate."""
    digest = hmac.new(str(settings.SECRET_KEY).encode(), f"labeler:{user_id}".encode(), hashlib.sha256)
    return "L-" + digest.hexdigest()[:16]


def transcript(messages: list[dict]) -> str:
    """A conversation as plain text, in the Anthropic HH layout TRL's text
    examples use; a single user turn is just its text."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    names = {"user": "Human", "assistant": "Assistant", "system": "System"}
    return "".join(f"\n\n{names[m['role']]}: {m['content']}" for m in messages) + "\n\nAssistant:"


PAIR_COLUMNS = ("prompt", "chosen", "rejected", "margin", "weight", "is_tie", "agreement",
                "num_labels", "item_id", "chosen_model", "rejected_model")
META_COLUMNS = PAIR_COLUMNS[3:]


def pair_tuples(snapshot: DatasetSnapshot, *, split: str, meta: bool = True) -> Iterator[tuple]:
    """The snapshot's decided pairs (no ties) of one split as tuples: prompt,
    chosen, rejected, then the multi-turn completions (JSON text or None, see
    SnapshotPair.chosen_messages), then the META_COLUMNS with ``meta``; the
    prompt as its JSON text. A server-side cursor streams them: no model instances and
    no JSON round trip on the hot path of a million-row export.

    Ties never appear here: a trainer reading only prompt/chosen/rejected would
    learn from a tie a preference nobody expressed. They go to ``tie_lines``."""
    columns = ["CAST(prompt_messages AS text)", "chosen", "rejected",
               "CAST(chosen_messages AS text)", "CAST(rejected_messages AS text)"]
    if meta:
        columns += list(META_COLUMNS)
    sql = (f"SELECT {', '.join(columns)} FROM annotation_snapshotpair "  # noqa: S608 - fixed names
           "WHERE snapshot_id = %s AND split = %s AND NOT is_tie ORDER BY id")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [snapshot.pk, split])
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


TIE_COLUMNS = ("prompt", "response_a", "response_b", "split", "agreement", "num_labels",
               "weight", "item_id", "model_a", "model_b")


def tie_lines(snapshot: DatasetSnapshot, *, style: str) -> Iterator[tuple[str, str]]:
    """(split, JSON line) for each tie the snapshot kept (``ties: keep``), in
    TIE_COLUMNS. The two responses are named response_a/response_b in canonical
    order, never chosen/rejected, so no preference loader can read a tie as one."""
    sql = ("SELECT CAST(prompt_messages AS text), chosen, rejected, CAST(chosen_messages AS text),"
           " CAST(rejected_messages AS text), split, agreement, num_labels,"
           " weight, item_id, chosen_model, rejected_model FROM annotation_snapshotpair"
           " WHERE snapshot_id = %s AND is_tie ORDER BY split DESC, id")  # train before test
    dumps = json.dumps
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [snapshot.pk])
        while rows := cursor.fetchmany(CHUNK):
            for prompt_json, a, b, a_messages, b_messages, split, *extra in rows:
                if style == "conversational":
                    head = (f'{{"prompt": {prompt_json}, "response_a": {a_messages or _assistant(a)}, '
                            f'"response_b": {b_messages or _assistant(b)}')
                else:
                    head = (f'{{"prompt": {dumps(transcript(json.loads(prompt_json)), ensure_ascii=False)}, '
                            f'"response_a": {dumps(a, ensure_ascii=False)}, '
                            f'"response_b": {dumps(b, ensure_ascii=False)}')
                rest = dict(zip(TIE_COLUMNS[3:], [split, *extra], strict=True))
                yield split, head + ", " + dumps(rest, ensure_ascii=False)[1:-1] + "}\n"


def _assistant(text: str) -> str:
    return '[{"role": "assistant", "content": ' + json.dumps(text, ensure_ascii=False) + "}]"


def trl_lines(snapshot: DatasetSnapshot, *, split: str, style: str, meta: bool) -> Iterator[str]:
    """TRL rows as JSON lines, assembled from already-serialized parts."""
    dumps = json.dumps
    for row in pair_tuples(snapshot, split=split, meta=meta):
        prompt_json, chosen, rejected, chosen_messages, rejected_messages = row[:5]
        if style == "conversational":
            line = (f'{{"prompt": {prompt_json}, "chosen": {chosen_messages or _assistant(chosen)}, '
                    f'"rejected": {rejected_messages or _assistant(rejected)}')
        else:
            line = (f'{{"prompt": {dumps(transcript(json.loads(prompt_json)), ensure_ascii=False)}, '
                    f'"chosen": {dumps(chosen, ensure_ascii=False)}, '
                    f'"rejected": {dumps(rejected, ensure_ascii=False)}')
        if meta:
            extra = dict(zip(META_COLUMNS, row[5:], strict=True))
            line += ", " + dumps(extra, ensure_ascii=False)[1:-1]
        yield line + "}\n"


def raw_rows(snapshot: DatasetSnapshot, *, split: str) -> Iterator[dict]:
    """One row per annotation the snapshot drew on (labels made before it was built)."""
    rows = annotations_for_snapshot(snapshot).filter(item__prompt__split=split).order_by("pk")
    rows = rows.select_related("item__prompt").prefetch_related("item__slots__response")
    for a in rows.iterator(chunk_size=CHUNK):
        yield raw_row(a)


def raw_row(a: Annotation) -> dict:
    return {
        "item_id": a.item_id, "prompt": a.item.prompt.messages,
        "prompt_id": a.item.prompt_id,
        "responses": [{"text": s.response.text, "model_name": s.response.model_name,
                       **({"messages": s.response.metadata["messages"]}
                          if "messages" in (s.response.metadata or {}) else {})}
                      for s in sorted(a.item.slots.all(), key=lambda s: s.position)],
        "labeler": labeler_pseudonym(a.labeler_id),
        "source": a.source, "display_order": a.display_order, "strength": a.strength,
        "both_bad": a.both_bad, "ranking": a.ranking, "feedback": a.feedback, "ratings": a.ratings,
        "rationale": a.rationale, "flagged_unsafe": a.flagged_unsafe,
        "time_on_task_ms": a.time_on_task_ms, "created_at": a.created_at.isoformat(),
    }


# Unpaired snapshots (SnapshotCompletion): TRL's unpaired preference layout,
# prompt/completion/label, which KTOTrainer reads; SFT rows from the thumbs up.
COMPLETION_META_COLUMNS = ("score", "weight", "agreement", "num_labels", "item_id", "model_name")


def completion_tuples(snapshot: DatasetSnapshot, *, split: str, meta: bool = True,
                      only_up: bool = False) -> Iterator[tuple]:
    """The snapshot's labeled completions of one split as (prompt JSON text,
    completion, label[, meta columns]), streamed by a server-side cursor."""
    columns = ["CAST(prompt_messages AS text)", "completion", "label"]
    if meta:
        columns += list(COMPLETION_META_COLUMNS)
    where = " AND label" if only_up else ""
    sql = (f"SELECT {', '.join(columns)} FROM annotation_snapshotcompletion "  # noqa: S608 - fixed names
           f"WHERE snapshot_id = %s AND split = %s{where} ORDER BY id")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [snapshot.pk, split])
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


def _prompt_and_completion(prompt_json: str, completion: str, style: str) -> str:
    dumps = json.dumps
    if style == "conversational":
        return f'{{"prompt": {prompt_json}, "completion": {_assistant(completion)}'
    return (f'{{"prompt": {dumps(transcript(json.loads(prompt_json)), ensure_ascii=False)}, '
            f'"completion": {dumps(completion, ensure_ascii=False)}')


def kto_lines(snapshot: DatasetSnapshot, *, split: str, style: str, meta: bool) -> Iterator[str]:
    """TRL unpaired rows (prompt, completion, label: true for a thumbs up) as JSON lines."""
    for row in completion_tuples(snapshot, split=split, meta=meta):
        line = _prompt_and_completion(row[0], row[1], style) + f', "label": {"true" if row[2] else "false"}'
        if meta:
            extra = dict(zip(COMPLETION_META_COLUMNS, row[3:], strict=True))
            line += ", " + json.dumps(extra, ensure_ascii=False)[1:-1]
        yield line + "}\n"


def sft_lines(snapshot: DatasetSnapshot, *, split: str, style: str) -> Iterator[str]:
    """SFT rows (prompt, completion) from the completions whose consensus is a thumbs up."""
    for row in completion_tuples(snapshot, split=split, meta=False, only_up=True):
        yield _prompt_and_completion(row[0], row[1], style) + "}\n"
