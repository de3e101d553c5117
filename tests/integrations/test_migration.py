"""Migration in and out on files in the real tools' formats: Label Studio JSON
exports of the pairwise (RLHF) and ranker templates, Argilla datasets written
in the Hugging Face datasets layout by the `datasets` library, and Palate's
Label Studio export read back in.

The fixtures are written from Label Studio's and Argilla's documented export
formats (neither tool's package is installed here to produce them)."""

import json
from pathlib import Path

import datasets
import pytest
from django.contrib.auth import get_user_model

from annotation.errors import Invalid
from annotation.models import Annotation, AnnotationSource, ComparisonItem, Role, TaskType
from integrations.migration.argilla import ArgillaMapping
from integrations.migration.services import argilla_import, label_studio_import, label_studio_tasks
from tests.factories import member_add, project_make

FIXTURES = Path(__file__).parent / "fixtures"


def ls_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def argilla_records(kind: str) -> list[dict]:
    return json.loads((FIXTURES / "argilla_records.json").read_text())[kind]


def labels(project) -> list[tuple]:
    """(prompt, responses in canonical order, labeler, label) of every annotation."""
    out = []
    for a in Annotation.objects.filter(project=project).select_related("item__prompt", "labeler"):
        texts = [s.response.text for s in a.item.slots.order_by("position")]
        out.append((a.item.prompt.messages[-1]["content"], tuple(texts), a.labeler.username,
                    a.strength, tuple(a.ranking or ())))
    return sorted(out)


@pytest.fixture
def ranking_project(admin, engineer):
    project = project_make(creator=admin, task_type=TaskType.RANKING, overlap=2)
    member_add(project, engineer, Role.ENGINEER)
    return project


@pytest.mark.django_db
def test_label_studio_pairwise_template_imports_items_labels_and_pseudonymous_annotators(project, admin):
    result = label_studio_import(project=project, raw=ls_bytes("label_studio_pairwise.json"), actor=admin)
    assert (result.items, result.annotations) == (2, 3)  # task 103 has no label; one skip is not one
    rows = labels(project)
    prefix = f"import:{project.pk}:"
    assert rows == [
        ("What is the boiling point of water at sea level?",
         ("Water boils at 100 degrees Celsius (212 °F) at sea level.", "It boils at around 50 degrees."),
         prefix + "ls-1", -1, ()),
        ("What is the boiling point of water at sea level?",
         ("Water boils at 100 degrees Celsius (212 °F) at sea level.", "It boils at around 50 degrees."),
         prefix + "ls-2", -1, ()),
        ("Write a haiku about autumn.",
         ("Leaves fall.", "Crimson leaves drifting\nwhispers of the cooling wind\nthe year exhales slow"),
         prefix + "ls-1", 1, ()),
    ]
    assert not get_user_model().objects.filter(email="bob@example.org").exists()  # no e-mail kept
    first = Annotation.objects.get(labeler__username=prefix + "ls-1", strength=-1)
    assert first.created_at.isoformat() == "2024-03-04T10:15:00.123456+00:00"
    assert first.source == AnnotationSource.IMPORTED and not first.labeler.is_active
    # Importing the same file again changes nothing.
    assert label_studio_import(project=project, raw=ls_bytes("label_studio_pairwise.json")).items == 0


@pytest.mark.django_db
def test_label_studio_ranker_template(ranking_project):
    result = label_studio_import(project=ranking_project, raw=ls_bytes("label_studio_ranker.json"))
    assert (result.items, result.annotations) == (1, 2)
    ranks = {row[2].rsplit(":", 1)[1]: row[4] for row in labels(ranking_project)}
    # Items a, b, c in data order: labeler 5 ranked c > a > b, labeler 6 a > c > b.
    assert ranks == {"ls-5": (2, 3, 1), "ls-6": (1, 3, 2)}


@pytest.mark.django_db
@pytest.mark.parametrize(("edit", "line", "field"), [
    (lambda t: t[1]["annotations"][0]["result"][0]["value"].update(selected="middle"), 2,
     "annotations[0].result[0].value.selected"),
    (lambda t: t[0]["data"].pop("answer2"), 1, "data.answer2"),
    (lambda t: t[2]["data"].update(prompt=""), 3, "data.prompt"),
    (lambda t: t[0]["annotations"][1].update(created_at="yesterday"), 1, "annotations[1].created_at"),
    (lambda t: t[1]["annotations"][0].update(result=[]), 2, "annotations[0].result"),
])
def test_a_bad_task_names_its_line_and_field_and_imports_nothing(project, edit, line, field):
    tasks = json.loads(ls_bytes("label_studio_pairwise.json"))
    edit(tasks)
    with pytest.raises(Invalid) as error:
        label_studio_import(project=project, raw=json.dumps(tasks).encode())
    assert (error.value.line, error.value.field) == (line, field)
    assert not ComparisonItem.objects.filter(project=project).exists()
    assert not Annotation.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_a_ranker_export_does_not_fit_a_pairwise_project(project):
    with pytest.raises(Invalid) as error:
        label_studio_import(project=project, raw=ls_bytes("label_studio_ranker.json"))
    assert (error.value.line, error.value.field) == (1, "data.answer1")


@pytest.mark.django_db
@pytest.mark.parametrize("template", ["pairwise", "ranker"])
def test_label_studio_export_round_trips(template, project, ranking_project, admin):
    source = project if template == "pairwise" else ranking_project
    label_studio_import(project=source, raw=ls_bytes(f"label_studio_{template}.json"))
    tasks = label_studio_tasks(project=source, actor=admin)
    # What Label Studio reads: a JSON array of tasks with data and annotations.
    assert isinstance(json.loads(json.dumps(tasks)), list)
    kind = "pairwise" if template == "pairwise" else "ranker"
    assert all(a["result"][0]["type"] == kind for t in tasks for a in t["annotations"])
    fresh = project_make(creator=admin, task_type=source.task_type, overlap=2)
    label_studio_import(project=fresh, raw=json.dumps(tasks).encode())

    def without_names(rows):
        return sorted((prompt, texts, strength, ranking) for prompt, texts, _, strength, ranking in rows)

    assert without_names(labels(fresh)) == without_names(labels(source))
    # The same labeler keeps one identity across tasks.
    assert len({row[2] for row in labels(fresh)}) == len({row[2] for row in labels(source)})


def argilla_folder(tmp_path, kind: str, *, layout: str) -> Path:
    table = datasets.Dataset.from_list(argilla_records(kind))
    if layout == "save_to_disk":
        target = tmp_path / "argilla-dataset"
        datasets.DatasetDict({"train": table}).save_to_disk(str(target))
    else:  # Hub layout: data/train-00000-of-00001.parquet
        target = tmp_path / "argilla-hub"
        (target / "data").mkdir(parents=True)
        table.to_parquet(str(target / "data" / "train-00000-of-00001.parquet"))
    return target


@pytest.mark.django_db
@pytest.mark.parametrize("layout", ["save_to_disk", "hub"])
def test_argilla_ranking_question_into_a_pairwise_project(project, tmp_path, layout):
    path = argilla_folder(tmp_path, "ranking", layout=layout)
    result = argilla_import(project=project, path=path, mapping=ArgillaMapping())
    assert (result.items, result.annotations) == (2, 3)  # the discarded response is not a label
    rows = labels(project)
    assert [r[3] for r in rows if r[0].startswith("How do I")] == [-1, -1]  # response1 ranked first
    assert [r[3] for r in rows if r[0].startswith("What is the capital")] == [1]
    assert all(r[2].startswith(f"import:{project.pk}:ar-") and "-1111-" not in r[2] for r in rows)


@pytest.mark.django_db
def test_argilla_rating_questions_into_a_ranking_project(ranking_project, tmp_path):
    path = argilla_folder(tmp_path, "rating", layout="save_to_disk")
    mapping = ArgillaMapping(prompt_field="instruction",
                             response_fields=("response_a", "response_b", "response_c"),
                             rating_questions=("rating_a", "rating_b", "rating_c"))
    result = argilla_import(project=ranking_project, path=path, mapping=mapping)
    assert (result.items, result.annotations) == (1, 2)
    # user …dddd rated 5, 1, 4; user …eeee rated 4, 1, 4 (a tie between a and c).
    assert sorted(r[4] for r in labels(ranking_project)) == [(1, 2, 1), (1, 3, 2)]


@pytest.mark.django_db
def test_argilla_errors_name_the_record_and_field(project, tmp_path):
    records = argilla_records("ranking")
    records[1]["preference.responses"] = [["response2", "response9"]]
    table = datasets.Dataset.from_list(records)
    path = tmp_path / "bad.parquet"
    table.to_parquet(str(path))
    with pytest.raises(Invalid) as error:
        argilla_import(project=project, path=path, mapping=ArgillaMapping())
    assert (error.value.line, error.value.field) == (2, "preference.responses")
    assert not ComparisonItem.objects.filter(project=project).exists()
    with pytest.raises(Invalid) as error:
        argilla_import(project=project, path=path, mapping=ArgillaMapping(prompt_field="question"))
    assert error.value.field == "prompt_field"


@pytest.mark.django_db
def test_argilla_ranks_as_value_rank_objects_with_a_tie(project, tmp_path):
    records = argilla_records("ranking")[:2]
    for record in records:
        ranked = record["preference.responses"]
        record["preference.responses"] = [[{"value": v, "rank": i + 1} for i, v in enumerate(r)]
                                          for r in ranked]
        record["preference.suggestion"] = None
    records[1]["preference.responses"][0][1]["rank"] = 1  # both responses rank 1: a tie
    path = tmp_path / "ranks.parquet"
    datasets.Dataset.from_list(records).to_parquet(str(path))
    argilla_import(project=project, path=path, mapping=ArgillaMapping())
    assert [r[3] for r in labels(project) if r[0].startswith("What is the capital")] == [0]


@pytest.mark.django_db
def test_unreadable_files_are_a_field_error(project, tmp_path):
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(Invalid) as error:
        argilla_import(project=project, path=damaged, mapping=ArgillaMapping())
    assert error.value.field == "file"
    with pytest.raises(Invalid) as error:
        label_studio_import(project=project, raw=b"[" * 100_000)
    assert error.value.field == "file"
    with pytest.raises(Invalid) as error:
        label_studio_import(project=project, raw=b"\xff\xfe")
    assert error.value.field == "file"
