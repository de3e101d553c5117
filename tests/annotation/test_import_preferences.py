import json

import pytest
from django.core.management import CommandError, call_command

from annotation.datasets import writers
from annotation.models import (
    Annotation,
    AnnotationSource,
    ComparisonItem,
    Prompt,
    Response,
    ResponseSource,
    TaskType,
)
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.queue import item_claim_next
from tests.factories import project_make


def write_jsonl(tmp_path, rows, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def chosen_text(item):
    annotation = Annotation.objects.get(item=item)
    texts = [s.response.text for s in item.slots.order_by("position")]
    if annotation.strength is not None:
        return texts[0] if annotation.strength < 0 else texts[1]
    return texts[annotation.ranking.index(1)]


TRL_ROWS = [
    {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
    {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"},
]


def test_trl_text_rows_become_prelabeled_items(project, tmp_path):
    call_command("import_preferences", project.slug, write_jsonl(tmp_path, TRL_ROWS))
    items = ComparisonItem.objects.filter(project=project).order_by("pk")
    assert [chosen_text(i) for i in items] == ["4", "Paris"]
    assert set(Response.objects.values_list("source", flat=True)) == {ResponseSource.IMPORTED}
    assert set(Annotation.objects.values_list("source", flat=True)) == {AnnotationSource.IMPORTED}
    assert not any(i.is_open for i in items)


def test_imported_items_stay_out_of_the_queue_unless_relabel(project, labeler, tmp_path):
    call_command("import_preferences", project.slug, write_jsonl(tmp_path, TRL_ROWS))
    assert item_claim_next(project=project, labeler=labeler) is None
    call_command("import_preferences", project.slug,
                 write_jsonl(tmp_path, [{"prompt": "New?", "chosen": "a", "rejected": "b"}]),
                 "--relabel")
    assert item_claim_next(project=project, labeler=labeler) is not None


def test_conversational_rows_with_the_history_in_chosen(project, tmp_path):
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
               {"role": "user", "content": "A joke?"}]
    row = {"chosen": history + [{"role": "assistant", "content": "Knock knock."}],
           "rejected": history + [{"role": "assistant", "content": "No."}]}
    call_command("import_preferences", project.slug, write_jsonl(tmp_path, [row]))
    prompt = Prompt.objects.get(project=project)
    assert prompt.messages == history
    assert chosen_text(ComparisonItem.objects.get(project=project)) == "Knock knock."


def test_hh_transcripts_are_parsed_into_messages(project, tmp_path):
    row = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Help me?\n\nAssistant: Sure.",
           "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Help me?\n\nAssistant: No."}
    call_command("import_preferences", project.slug, write_jsonl(tmp_path, [row]))
    prompt = Prompt.objects.get(project=project)
    assert [m["role"] for m in prompt.messages] == ["user", "assistant", "user"]
    assert prompt.messages[-1]["content"] == "Help me?"
    assert chosen_text(ComparisonItem.objects.get(project=project)) == "Sure."


SCORED = {"prompt": "Name a colour.", "completions": [
    {"text": "Blue", "score": 8.5, "model": "m-a"}, {"text": "Table", "score": 1},
    {"text": "Red", "score": 8.5, "model": "m-c"}]}


def test_scored_responses_become_a_ranked_item(admin, tmp_path):
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3)
    call_command("import_preferences", project.slug, write_jsonl(tmp_path, [SCORED]))
    item = ComparisonItem.objects.get(project=project)
    ranks = dict(zip([s.response.text for s in item.slots.order_by("position")],
                     Annotation.objects.get(item=item).ranking, strict=True))
    assert ranks == {"Blue": 1, "Red": 1, "Table": 2}
    assert Response.objects.get(text="Blue").model_name == "m-a"


def test_scored_responses_into_a_pairwise_project_pair_best_and_worst(project, tmp_path):
    call_command("import_preferences", project.slug, write_jsonl(tmp_path, [SCORED]))
    item = ComparisonItem.objects.get(project=project)
    assert sorted(s.response.text for s in item.slots.all()) == ["Blue", "Table"]
    assert chosen_text(item) == "Blue"


def test_a_bad_line_names_its_number_and_imports_nothing(project, tmp_path):
    rows = [*TRL_ROWS, {"prompt": "x", "chosen": "y"}]
    with pytest.raises(CommandError, match=r"line 3, field 'rejected'"):
        call_command("import_preferences", project.slug, write_jsonl(tmp_path, rows))
    assert not ComparisonItem.objects.filter(project=project).exists()
    assert not Prompt.objects.filter(project=project).exists()


def test_broken_json_names_its_line(project, tmp_path):
    with pytest.raises(CommandError, match=r"line 2"):
        call_command("import_preferences", project.slug,
                     write_jsonl(tmp_path, [TRL_ROWS[0], '{"prompt": ']))
    assert not Response.objects.exists()


def test_a_malformed_hh_transcript_is_named(project, tmp_path):
    with pytest.raises(CommandError, match=r"line 1, field 'chosen'"):
        call_command("import_preferences", project.slug,
                     write_jsonl(tmp_path, [{"chosen": "no turns", "rejected": "x"}]),
                     "--format", "hh")


def test_duplicates_in_the_file_and_the_project_are_skipped(project, tmp_path, capsys):
    path = write_jsonl(tmp_path, [*TRL_ROWS, TRL_ROWS[0]])
    call_command("import_preferences", project.slug, path)
    call_command("import_preferences", project.slug, path)
    assert ComparisonItem.objects.filter(project=project).count() == 2
    assert "3 duplicates skipped" in capsys.readouterr().out.splitlines()[-1]


def test_parquet_input_is_read(project, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(TRL_ROWS), tmp_path / "d.parquet")
    call_command("import_preferences", project.slug, str(tmp_path / "d.parquet"))
    assert ComparisonItem.objects.filter(project=project).count() == 2


def test_trl_export_import_export_round_trip_gives_the_same_rows(admin, tmp_path):
    rows = [{"prompt": f"Question {i}?", "chosen": f"Good {i}", "rejected": f"Bad {i}"}
            for i in range(40)]
    first, second = project_make(creator=admin), project_make(creator=admin)
    call_command("import_preferences", first.slug, write_jsonl(tmp_path, rows))
    writers.export_write(snapshot=dataset_snapshot_build(project=first), fmt="trl",
                         out=tmp_path / "one", style="text")
    with open(tmp_path / "all.jsonl", "w") as merged:
        for split in ("train", "test"):
            merged.write((tmp_path / "one" / f"{split}.jsonl").read_text())
    call_command("import_preferences", second.slug, str(tmp_path / "all.jsonl"))
    writers.export_write(snapshot=dataset_snapshot_build(project=second), fmt="trl",
                         out=tmp_path / "two", style="text")
    for split in ("train", "test"):
        one = (tmp_path / "one" / f"{split}.jsonl").read_text()
        assert one == (tmp_path / "two" / f"{split}.jsonl").read_text()
    assert sum(len((tmp_path / "one" / f"{s}.jsonl").read_text().splitlines())
               for s in ("train", "test")) == 40


# ----- raw annotation exports -----

def _raw_rows(folder):
    return [json.loads(line) for split in ("train", "test")
            for line in (folder / f"{split}.jsonl").read_text().splitlines()]


def _labeled_source(admin, *, task_type=TaskType.PAIRWISE, k=2):
    """A project labeled by three people and a model, with rationales and ratings."""
    from annotation.models import Role
    from tests.annotation.test_datasets import label_all
    from tests.factories import items_make, member_add, user_make

    project = project_make(creator=admin, task_type=task_type, num_responses=k, overlap=4,
                           test_fraction=0.3)
    people = [user_make(f"src_lab{i}") for i in range(3)]
    judge = user_make("src_judge")
    judge.source = AnnotationSource.MODEL
    for user in [*people, judge]:
        member_add(project, user, Role.LABELER)
    items_make(project, 12)

    def decide(user, lease):
        n = people.index(user) if user in people else 3
        data = {"rationale": f"reason {n}-{lease.item_id}", "time_on_task_ms": 1000 + n,
                "ratings": {"helpfulness": [1 + n] * k}}
        if task_type == TaskType.PAIRWISE:
            data["strength"] = [-2, -1, 1, 0][(n + lease.item_id) % 4]
        else:
            data["ranking"] = [1 + (i + n + lease.item_id) % k for i in range(k)]
        return data

    label_all(project, [*people, judge], decide)
    return project


def _fresh_like(admin, source):
    return project_make(creator=admin, task_type=source.task_type,
                        num_responses=source.num_responses, overlap=source.overlap,
                        test_fraction=source.test_fraction)


@pytest.mark.parametrize("task_type, k", [(TaskType.PAIRWISE, 2), (TaskType.RANKING, 4)])
def test_raw_export_import_export_round_trip_gives_the_same_dataset(admin, tmp_path, task_type, k):
    from annotation.datasets.fingerprint import snapshot_portable_hash

    filters = {"ties": "keep", "min_labels": 2}
    source = _labeled_source(admin, task_type=task_type, k=k)
    first = dataset_snapshot_build(project=source, filters=filters)
    writers.export_write(snapshot=first, fmt="raw", out=tmp_path / "raw1")
    writers.export_write(snapshot=first, fmt="trl", out=tmp_path / "trl1", meta=False)

    copy = _fresh_like(admin, source)
    for split in ("train", "test"):  # as a user would: one file after the other
        call_command("import_preferences", copy.slug, str(tmp_path / "raw1" / f"{split}.jsonl"),
                     "--format", "raw")
    second = dataset_snapshot_build(project=copy, filters=filters)
    writers.export_write(snapshot=second, fmt="raw", out=tmp_path / "raw2")
    writers.export_write(snapshot=second, fmt="trl", out=tmp_path / "trl2", meta=False)

    # The dataset itself: every pair, its margin, weight, agreement and split.
    assert first.pairs.count() > 0 and first.counts == second.counts
    assert snapshot_portable_hash(first) == snapshot_portable_hash(second)
    assert first.agreement == second.agreement
    for split in ("train", "test"):
        assert (tmp_path / "trl1" / f"{split}.jsonl").read_bytes() == \
            (tmp_path / "trl2" / f"{split}.jsonl").read_bytes()
    # The labels: the same rows, up to what names the source database (ids,
    # pseudonyms, which are keyed per installation) and human → imported.
    before, after = _raw_rows(tmp_path / "raw1"), _raw_rows(tmp_path / "raw2")
    assert len(before) == len(after) == Annotation.objects.filter(project=source).count()
    pseudonyms = {}
    for old, new in zip(before, after, strict=True):
        assert pseudonyms.setdefault(old["labeler"], new["labeler"]) == new["labeler"]
        assert new["source"] == ("model" if old["source"] == "model" else "imported")
        for row in (old, new):
            for key in ("item_id", "prompt_id", "labeler", "source"):
                row.pop(key)
        assert old == new
    assert len(set(pseudonyms.values())) == len(pseudonyms) == 4


def test_the_round_trip_check_sees_a_changed_label(admin, tmp_path):
    from annotation.datasets.fingerprint import snapshot_portable_hash

    source = _labeled_source(admin)
    first = dataset_snapshot_build(project=source, filters={"ties": "keep"})
    writers.export_write(snapshot=first, fmt="raw", out=tmp_path / "raw1")
    rows = _raw_rows(tmp_path / "raw1")
    changed = rows[0]["item_id"]
    for row in rows:
        if row["item_id"] == changed:  # mixed votes (A wins) become B ≫ A for everyone
            row["strength"] = 2
    copy = _fresh_like(admin, source)
    call_command("import_preferences", copy.slug, write_jsonl(tmp_path, rows), "--format", "raw")
    second = dataset_snapshot_build(project=copy, filters={"ties": "keep"})
    assert snapshot_portable_hash(first) != snapshot_portable_hash(second)


def raw_row(item_id=1, labeler="L-aaaa", strength=-1, **extra):
    return {"item_id": item_id, "prompt_id": 1, "prompt": [{"role": "user", "content": "Hi?"}],
            "responses": [{"text": "Hello!", "model_name": "m"}, {"text": "Go away.",
                                                                   "model_name": "m"}],
            "labeler": labeler, "source": "human", "display_order": [1, 0],
            "strength": strength, "both_bad": False, "ranking": None, "ratings": {},
            "rationale": "", "flagged_unsafe": False, "time_on_task_ms": 900,
            "created_at": "2026-01-02T03:04:05+00:00", **extra}


def test_raw_rows_become_items_with_one_account_per_pseudonym(project, tmp_path, capsys):
    rows = [raw_row(labeler="L-aaaa"), raw_row(labeler="L-bbbb", strength=2),
            raw_row(item_id=2, labeler="L-aaaa", prompt=[{"role": "user", "content": "Bye?"}])]
    call_command("import_preferences", project.slug, write_jsonl(tmp_path, rows))  # auto: raw
    assert "imported 2 items" in capsys.readouterr().out
    item = ComparisonItem.objects.get(project=project, prompt__messages__0__content="Hi?")
    assert [s.response.text for s in item.slots.order_by("position")] == ["Hello!", "Go away."]
    assert (item.submitted_count, item.is_open) == (2, False)
    labels = {a.labeler.username: a for a in Annotation.objects.filter(item=item)}
    assert set(labels) == {f"import:{project.pk}:L-aaaa", f"import:{project.pk}:L-bbbb"}
    first = labels[f"import:{project.pk}:L-aaaa"]
    assert (first.strength, first.display_order, first.source) == (-1, [1, 0], "imported")
    assert first.created_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert not first.labeler.is_active and not first.labeler.has_usable_password()


@pytest.mark.parametrize("bad, field", [
    ({"strength": 3}, "strength"),
    ({"labeler": "has space"}, "labeler"),
    ({"display_order": [0, 0]}, "display_order"),
    ({"responses": [{"text": "only one"}]}, "responses"),
    ({"source": "robot"}, "source"),
    ({"created_at": "yesterday"}, "created_at"),
    ({"created_at": "2999-01-01T00:00:00+00:00"}, "created_at"),
    ({"ratings": {"beauty": [1, 2]}}, "ratings.beauty"),
    ({"ranking": [1, 2], "strength": None}, "ranking"),
    ({"prompt": [{"role": "user", "content": "Another prompt?"}]}, "prompt"),
    ({"strength": 2}, "labeler"),  # contradicts line 2
])
def test_a_bad_raw_row_names_its_line_and_field_and_imports_nothing(project, tmp_path, bad,
                                                                    field):
    rows = [raw_row(item_id=7, labeler="L-first"), raw_row(), raw_row(**bad)]
    with pytest.raises(CommandError) as error:
        call_command("import_preferences", project.slug, write_jsonl(tmp_path, rows),
                     "--format", "raw")
    assert f"line 3, field '{field}'" in str(error.value)
    assert not ComparisonItem.objects.filter(project=project).exists()
    assert not Annotation.objects.filter(project=project).exists()
    assert not Prompt.objects.filter(project=project).exists()


def test_raw_duplicates_are_skipped_and_counted(project, tmp_path, capsys):
    path = write_jsonl(tmp_path, [raw_row(), raw_row(), raw_row(labeler="L-bbbb")])
    call_command("import_preferences", project.slug, path, "--format", "raw")
    assert "imported 1 items" in capsys.readouterr().out
    call_command("import_preferences", project.slug, path, "--format", "raw")
    out = capsys.readouterr().out
    assert "imported 0 items" in out and "1 duplicates skipped" in out
    assert Annotation.objects.filter(project=project).count() == 2


def test_raw_rows_for_another_task_type_are_refused(admin, tmp_path):
    ranking = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3)
    row = raw_row(display_order=[2, 0, 1])
    row["responses"].append({"text": "Third.", "model_name": "m"})
    with pytest.raises(CommandError, match="line 1, field 'strength'"):
        call_command("import_preferences", ranking.slug, write_jsonl(tmp_path, [row]),
                     "--format", "raw")
