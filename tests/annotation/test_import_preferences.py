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
