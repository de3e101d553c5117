import json
from dataclasses import fields

import pytest

from annotation.datasets import writers
from annotation.datasets.pairs import pairwise_consensus, ranking_pairs
from annotation.errors import Invalid
from annotation.models import AnnotationSource, Role, SnapshotPair, SnapshotStatus, TaskType
from annotation.services.datasets import SnapshotFilters, dataset_snapshot_build
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.factories import items_make, member_add, project_make, user_make


def label_all(project, labelers, decide):
    """Every labeler labels every item it is offered; decide(labeler, lease) -> data."""
    for user in labelers:
        while (lease := item_claim_next(project=project, labeler=user)) is not None:
            annotation_submit(assignment=lease, data=decide(user, lease),
                              idempotency_key=new_idempotency_key(),
                              source=getattr(user, "source", AnnotationSource.HUMAN))


@pytest.fixture
def crowd(db):
    admin = user_make("ds_admin")
    project = project_make(creator=admin, overlap=3, test_fraction=0.3)
    labelers = [user_make(f"ds_lab{i}") for i in range(3)]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    items = items_make(project, 30)
    items_make(project, 2, is_gold=True, gold_answer={"strength": -2})
    # Labeler 0 and 1 prefer A strongly, labeler 2 prefers B on every third item.
    label_all(project, labelers, lambda u, lease: {
        "strength": 1 if (u == labelers[2] and lease.item_id % 3 == 0) else -2})
    return project, labelers, items


def test_majority_consensus_and_its_agreement():
    outcome = pairwise_consensus([-2, -1, 1], method="majority")
    assert (outcome.winner, outcome.loser, outcome.is_tie) == (0, 1, False)
    assert outcome.margin == 1.5 and outcome.agreement == pytest.approx(2 / 3)


def test_split_majority_vote_is_a_tie():
    assert pairwise_consensus([-1, 1], method="majority").is_tie


def test_mean_consensus_uses_the_tie_band():
    assert pairwise_consensus([-1, 1, 0], method="mean").is_tie
    outcome = pairwise_consensus([2, 2, -1], method="mean")
    assert (outcome.winner, outcome.margin) == (1, 1.0)


def test_ranking_gives_all_pairs_with_ties():
    outcomes = ranking_pairs([[1, 2, 3, 3], [1, 3, 2, 4]])
    assert len(outcomes) == 6
    pair_23 = [o for o in outcomes if {o.winner, o.loser} == {2, 3}][0]
    assert (pair_23.winner, pair_23.is_tie, pair_23.agreement) == (2, False, 0.5)
    first = [o for o in outcomes if {o.winner, o.loser} == {0, 1}][0]
    assert (first.winner, first.agreement) == (0, 1.0)


def test_snapshot_hash_is_stable_across_rebuilds(crowd):
    project, _, _ = crowd
    first = dataset_snapshot_build(project=project)
    second = dataset_snapshot_build(project=project)
    assert first.status == second.status == SnapshotStatus.READY
    assert (first.version, second.version) == (1, 2)
    assert first.content_hash == second.content_hash
    assert first.counts == second.counts and sum(first.counts.values()) == 30


@pytest.mark.parametrize("change", [
    {"consensus": "mean"}, {"consensus": "dawid_skene"}, {"min_agreement": 0.9}, {"min_labels": 4},
    {"ties": "keep"},
    {"both_bad": "keep"}, {"exclude_labelers": ["ds_lab2"]}, {"include_model_labels": False},
    {"date_from": "2000-01-01"}, {"date_to": "2999-01-01"},
])
def test_any_filter_changes_the_hash(crowd, change):
    project, _, _ = crowd
    base = dataset_snapshot_build(project=project, filters={"consensus": "majority"})
    other = dataset_snapshot_build(project=project, filters={"consensus": "majority"} | change)
    assert other.content_hash != base.content_hash


def test_every_filter_is_covered_by_the_hash_test():
    assert {f.name for f in fields(SnapshotFilters)} == {
        "consensus", "min_agreement", "min_labels", "ties", "both_bad", "exclude_labelers",
        "include_model_labels", "date_from", "date_to"}


def test_min_agreement_drops_disputed_items(crowd):
    project, _, items = crowd
    disputed = {i.pk for i in items if i.pk % 3 == 0}
    snapshot = dataset_snapshot_build(project=project, filters={"min_agreement": 0.9,
                                                                "consensus": "majority"})
    kept = set(snapshot.pairs.values_list("item_id", flat=True))
    assert kept == {i.pk for i in items} - disputed


def test_excluding_a_labeler_removes_their_labels(crowd):
    project, _, _ = crowd
    snapshot = dataset_snapshot_build(project=project, filters={"exclude_labelers": ["ds_lab2"]})
    assert set(snapshot.pairs.values_list("num_labels", flat=True)) == {2}
    assert set(snapshot.pairs.values_list("agreement", flat=True)) == {1.0}


def test_gold_items_never_enter_a_snapshot(crowd):
    project, _, items = crowd
    snapshot = dataset_snapshot_build(project=project)
    assert set(snapshot.pairs.values_list("item_id", flat=True)) <= {i.pk for i in items}


def test_no_prompt_lands_in_both_splits(crowd):
    project, _, _ = crowd
    snapshot = dataset_snapshot_build(project=project)
    splits = {}
    for prompt_id, split in snapshot.pairs.values_list("prompt_id", "split"):
        splits.setdefault(prompt_id, set()).add(split)
    assert all(len(s) == 1 for s in splits.values())
    assert {s for v in splits.values() for s in v} == {"train", "test"}


def test_chosen_is_the_consensus_winner_with_its_margin(crowd):
    project, _, _ = crowd
    pair = dataset_snapshot_build(project=project).pairs.order_by("item_id").first()
    assert pair.chosen.startswith("Answer 0") and pair.rejected.startswith("Answer 1")
    assert pair.margin > 0 and not pair.is_tie


def test_ranking_snapshot_weights_each_prompt_to_one(db):
    admin = user_make("rk_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=4, overlap=1)
    labeler = user_make("rk_lab")
    member_add(project, labeler, Role.LABELER)
    items_make(project, 3)
    label_all(project, [labeler], lambda u, lease: {"ranking": [1, 2, 3, 3]})
    kept = dataset_snapshot_build(project=project, filters={"ties": "keep"})
    dropped = dataset_snapshot_build(project=project)
    assert kept.pairs.count() == 3 * 6 and dropped.pairs.count() == 3 * 5
    for snapshot, per_prompt in ((kept, 6), (dropped, 5)):
        weights = list(snapshot.pairs.values_list("weight", flat=True))
        assert weights == pytest.approx([1 / per_prompt] * len(weights))
    assert kept.pairs.filter(is_tie=True).count() == 3


def test_model_labels_can_be_left_out(db):
    admin = user_make("ml_admin")
    project = project_make(creator=admin, overlap=2)
    human, judge = user_make("ml_human"), user_make("ml_judge")
    judge.source = AnnotationSource.MODEL
    for user in (human, judge):
        member_add(project, user, Role.LABELER)
    items_make(project, 4)
    label_all(project, [human, judge], lambda u, lease: {"strength": -1 if u == human else 2})
    with_model = dataset_snapshot_build(project=project, filters={"ties": "keep", "consensus": "majority"})
    humans_only = dataset_snapshot_build(project=project, filters={"include_model_labels": False})
    assert set(with_model.pairs.values_list("is_tie", flat=True)) == {True}
    assert set(humans_only.pairs.values_list("num_labels", flat=True)) == {1}


def test_a_snapshot_defaults_to_the_project_consensus_the_dashboard_uses(crowd):
    from annotation.services.quality_recompute import project_quality_recompute

    project, _, _ = crowd
    state = project_quality_recompute(project=project, n_resamples=10)
    snapshot = dataset_snapshot_build(project=project)
    assert snapshot.filters["consensus"] == state.method == "dawid_skene"
    project.consensus_method = "majority"
    project.save(update_fields=["consensus_method"])
    assert dataset_snapshot_build(project=project).filters["consensus"] == "majority"
    assert project_quality_recompute(project=project, n_resamples=10).method == "majority"
    with pytest.raises(Invalid) as error:
        dataset_snapshot_build(project=project, filters={"consensus": "weighted_rank"})
    assert error.value.field == "consensus"


def test_bad_filter_names_the_field(crowd):
    project, _, _ = crowd
    with pytest.raises(Invalid) as error:
        dataset_snapshot_build(project=project, filters={"ties": "sometimes"})
    assert error.value.field == "ties"
    with pytest.raises(Invalid) as error:
        dataset_snapshot_build(project=project, filters={"colour": "blue"})
    assert error.value.field == "colour"


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _expected_trl(snapshot, split):
    return [{"prompt": p.prompt_messages,
             "chosen": [{"role": "assistant", "content": p.chosen}],
             "rejected": [{"role": "assistant", "content": p.rejected}]}
            for p in SnapshotPair.objects.filter(snapshot=snapshot, split=split).order_by("pk")]


def test_trl_jsonl_reads_back_with_the_same_rows(crowd, tmp_path):
    project, _, _ = crowd
    snapshot = dataset_snapshot_build(project=project)
    manifest = writers.export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "out")
    for split in ("train", "test"):
        rows = _read_jsonl(tmp_path / "out" / f"{split}.jsonl")
        assert rows == _expected_trl(snapshot, split)
        assert manifest["rows"][split] == len(rows)
    sheet = (tmp_path / "out" / "datasheet.md").read_text()
    assert snapshot.content_hash in sheet and "3 labelers" in sheet


def test_text_style_puts_the_prompt_as_a_string(crowd, tmp_path):
    project, _, _ = crowd
    snapshot = dataset_snapshot_build(project=project)
    writers.export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "out", style="text")
    row = _read_jsonl(tmp_path / "out" / "train.jsonl")[0]
    assert isinstance(row["prompt"], str) and isinstance(row["chosen"], str)


def test_parquet_reads_back_with_the_same_rows(crowd, tmp_path):
    import pyarrow.parquet as pq

    project, _, _ = crowd
    snapshot = dataset_snapshot_build(project=project)
    writers.export_write(snapshot=snapshot, fmt="parquet", out=tmp_path / "out")
    for split in ("train", "test"):
        assert pq.read_table(tmp_path / "out" / f"{split}.parquet").to_pylist() == \
            _expected_trl(snapshot, split)


def test_hf_folder_loads_with_datasets(crowd, tmp_path):
    import datasets

    project, _, _ = crowd
    snapshot = dataset_snapshot_build(project=project)
    writers.export_write(snapshot=snapshot, fmt="hf", out=tmp_path / "out", meta=True)
    loaded = datasets.load_from_disk(str(tmp_path / "out" / "dataset"))
    assert set(loaded.keys()) == {"train", "test"}
    assert loaded["train"].num_rows == snapshot.counts["train"]
    first = loaded["train"][0]
    pair = SnapshotPair.objects.filter(snapshot=snapshot, split="train").order_by("pk").first()
    assert first["chosen"] == [{"role": "assistant", "content": pair.chosen}]
    assert first["margin"] == pair.margin


def test_raw_export_has_pseudonyms_and_no_personal_data(crowd, tmp_path):
    project, labelers, _ = crowd
    snapshot = dataset_snapshot_build(project=project)
    writers.export_write(snapshot=snapshot, fmt="raw", out=tmp_path / "out")
    rows = _read_jsonl(tmp_path / "out" / "train.jsonl") + _read_jsonl(tmp_path / "out" / "test.jsonl")
    assert len(rows) == 90
    text = (tmp_path / "out" / "train.jsonl").read_text()
    for user in labelers:
        assert user.username not in text and user.email not in text
    assert len({r["labeler"] for r in rows}) == 3
    assert all(len(r["responses"]) == 2 and sorted(r["display_order"]) == [0, 1] for r in rows)


def test_a_crash_mid_export_leaves_no_file(crowd, tmp_path, monkeypatch):
    project, _, _ = crowd
    snapshot = dataset_snapshot_build(project=project)

    def boom(path, lines, progress):
        path.write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(writers, "_write_lines", boom)
    with pytest.raises(OSError):
        writers.export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_export_is_not_overwritten_by_default(crowd, tmp_path):
    project, _, _ = crowd
    snapshot = dataset_snapshot_build(project=project)
    writers.export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "out")
    with pytest.raises(Invalid):
        writers.export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "out")
    writers.export_write(snapshot=snapshot, fmt="raw", out=tmp_path / "out", overwrite=True)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["format"] == "raw"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_export_dataset_command_builds_and_writes(crowd, tmp_path, capsys):
    from django.core.management import call_command

    project, _, _ = crowd
    call_command("export_dataset", project.slug, "--format", "trl", "--out", str(tmp_path / "o"),
                 "--min-agreement", "0.9", "--consensus", "majority")
    assert "snapshot v1" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["filters"]["min_agreement"] == 0.9
    assert sum(manifest["rows"].values()) == 20


def test_dawid_skene_consensus_follows_the_reliable_labelers(db):
    admin = user_make("dsc_admin")
    project = project_make(creator=admin, overlap=3)
    good = [user_make("dsc_good0"), user_make("dsc_good1")]
    spammer = user_make("dsc_spam")
    for user in [*good, spammer]:
        member_add(project, user, Role.LABELER)
    items = items_make(project, 30)
    truth = {item.pk: (-2 if item.pk % 2 else 2) for item in items}
    label_all(project, [*good, spammer], lambda u, lease: {
        "strength": -2 if u == spammer else truth[lease.item_id]})
    snapshot = dataset_snapshot_build(project=project, filters={"consensus": "dawid_skene"})
    pairs = list(snapshot.pairs.all())
    assert len(pairs) == 30
    for pair in pairs:
        expected_winner = "Answer 0" if truth[pair.item_id] < 0 else "Answer 1"
        assert pair.chosen.startswith(expected_winner)
        assert 0.5 < pair.agreement <= 1.0


def test_dawid_skene_consensus_is_refused_for_rankings(db):
    admin = user_make("dsr_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3, overlap=1)
    labeler = user_make("dsr_lab")
    member_add(project, labeler, Role.LABELER)
    items_make(project, 1)
    label_all(project, [labeler], lambda u, lease: {"ranking": [1, 2, 3]})
    with pytest.raises(Invalid):
        dataset_snapshot_build(project=project, filters={"consensus": "dawid_skene"})


# ----- the datasheet's quality figures -----

def _sheet(project, tmp_path, **filters):
    snapshot = dataset_snapshot_build(project=project, filters={"ties": "keep", **filters})
    writers.export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "sheet")
    return (tmp_path / "sheet" / "datasheet.md").read_text()


def _line(sheet, start):
    return next(line for line in sheet.splitlines() if line.startswith(start))


def _pair_project(name, texts, labelers=2):
    from annotation.services.items import ResponseInput, item_create
    from tests.factories import prompts_make

    admin = user_make(f"{name}_admin")
    project = project_make(creator=admin, overlap=labelers)
    people = [user_make(f"{name}_lab{i}") for i in range(labelers)]
    for user in people:
        member_add(project, user, Role.LABELER)
    for prompt, (a, b) in zip(prompts_make(project, len(texts)), texts, strict=True):
        item_create(project=project, prompt=prompt,
                    responses=[ResponseInput(text=a), ResponseInput(text=b)])
    return project, people


def test_datasheet_reports_alpha_of_labelers_who_agree(db, tmp_path):
    project, people = _pair_project("ag", [(f"A{i}", f"B{i}") for i in range(30)])
    # Both labelers give the same strength, varying by item: perfect agreement.
    label_all(project, people, lambda u, lease: {"strength": [-2, -1, 1, 2][lease.item_id % 4]})
    sheet = _sheet(project, tmp_path)
    assert _line(sheet, "- Krippendorff's alpha (ordinal)") == \
        "- Krippendorff's alpha (ordinal): 1.000"
    assert _line(sheet, "- Krippendorff's alpha (nominal").endswith(": 1.000")


def test_datasheet_flags_a_labeler_who_always_picks_the_left_response(db, tmp_path):
    project, people = _pair_project("pb", [(f"Answer {i}", f"Reply {i}") for i in range(40)],
                                    labelers=1)
    # The left response is canonical A when display_order[0] == 0.
    label_all(project, people,
              lambda u, lease: {"strength": -1 if lease.display_order[0] == 0 else 1})
    line = _line(_sheet(project, tmp_path), "- Position bias")
    assert "shown first 1.000" in line and "n = 40" in line and line.endswith("— flagged")


def test_datasheet_flags_length_bias_and_not_position_bias(db, tmp_path):
    texts = [("short", "a much longer answer with many words"), ("a long and detailed reply", "no")]
    project, people = _pair_project("lb", texts * 20, labelers=1)

    def longer(u, lease):
        a, b = [s.response.text for s in lease.item.slots.order_by("position")]
        return {"strength": -1 if len(a) > len(b) else 1}

    label_all(project, people, longer)
    sheet = _sheet(project, tmp_path)
    length = _line(sheet, "- Length bias")
    assert "longer response 1.000" in length and length.endswith("— flagged")
    assert not _line(sheet, "- Position bias").endswith("— flagged")


def test_datasheet_reports_ranking_quality(db, tmp_path):
    admin = user_make("rq_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3, overlap=2)
    people = [user_make(f"rq_lab{i}") for i in range(2)]
    for user in people:
        member_add(project, user, Role.LABELER)
    items_make(project, 10)
    label_all(project, people, lambda u, lease: {"ranking": [1, 2, 3]})
    sheet = _sheet(project, tmp_path)
    assert _line(sheet, "- Krippendorff's alpha (ordinal, over ranks)").endswith(": 1.000")
    assert "n = 60" in _line(sheet, "- Position bias (rankings read as their pairs)")


def test_datasheet_quality_follows_the_snapshot_filters(crowd, tmp_path):
    project, _, _ = crowd
    everyone = _line(_sheet(project, tmp_path), "- Krippendorff's alpha (ordinal)")
    agreeing = _line(_sheet(project, tmp_path / "x", exclude_labelers=["ds_lab2"]),
                     "- Krippendorff's alpha (ordinal)")
    assert everyone != agreeing and agreeing.endswith("n/a")  # two labelers, no variation


# ----- ties are never preference rows; the datasheet says what labelers gave -----


@pytest.fixture
def tied(db):
    """Six items: two labelers agree on A for items 0–2 and split A/B (a tie by
    majority) on items 3–5; a third labeler, excluded later, says tie everywhere."""
    admin = user_make("tie_admin")
    project = project_make(creator=admin, overlap=3, test_fraction=0.5)
    # Majority vote, so a 1–1 split is a tie (Dawid–Skene would pick a side).
    project.consensus_method = "majority"
    project.save(update_fields=["consensus_method"])
    people = [user_make(f"tie_lab{i}") for i in range(3)]
    for user in people:
        member_add(project, user, Role.LABELER)
    items = items_make(project, 6)
    split = {item.pk for item in items[3:]}

    def decide(u, lease):
        if u == people[2]:
            return {"strength": 0}
        return {"strength": 1 if (u == people[1] and lease.item_id in split) else -1}

    label_all(project, people[:2], decide)
    label_all(project, people[2:], decide)
    return project, people, split


@pytest.mark.parametrize("fmt", ["trl", "parquet", "hf"])
def test_kept_ties_are_written_apart_never_as_chosen_rejected(tied, tmp_path, fmt):
    project, people, split = tied
    snapshot = dataset_snapshot_build(project=project, filters={
        "ties": "keep", "exclude_labelers": [people[2].username]})
    assert snapshot.pairs.filter(is_tie=True).count() == 3
    manifest = writers.export_write(snapshot=snapshot, fmt=fmt, out=tmp_path / "out")
    out = tmp_path / "out"
    if fmt == "trl":
        rows = _read_jsonl(out / "train.jsonl") + _read_jsonl(out / "test.jsonl")
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        rows = [r for s in ("train", "test") for r in pq.read_table(out / f"{s}.parquet").to_pylist()]
    else:
        import datasets

        loaded = datasets.load_from_disk(str(out / "dataset"))
        rows = [r for s in ("train", "test") for r in loaded[s]]
    decided = SnapshotPair.objects.filter(snapshot=snapshot, is_tie=False)
    assert len(rows) == decided.count() == 3
    assert sum(manifest["rows"].values()) == 3
    assert {r["chosen"][0]["content"] for r in rows} == set(decided.values_list("chosen", flat=True))
    ties = _read_jsonl(out / "ties.jsonl")
    assert len(ties) == 3 and sum(manifest["ties"]["rows"].values()) == 3
    assert manifest["ties"]["file"] == "ties.jsonl"
    assert all("chosen" not in t and "rejected" not in t for t in ties)
    assert {t["item_id"] for t in ties} == split
    assert {t["split"] for t in ties} <= {"train", "test"}
    sheet = (out / "datasheet.md").read_text()
    assert "`ties.jsonl`" in sheet and "response_a" in sheet


def test_an_export_without_ties_writes_no_ties_file(tied, tmp_path):
    project, _, _ = tied
    snapshot = dataset_snapshot_build(project=project)
    manifest = writers.export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "out")
    assert not (tmp_path / "out" / "ties.jsonl").exists()
    assert manifest["ties"] == {"file": None, "rows": {"train": 0, "test": 0}}
    assert "every row is a preference" in (tmp_path / "out" / "datasheet.md").read_text()


def test_datasheet_reports_label_ties_and_what_each_filter_dropped(tied, tmp_path):
    project, people, _ = tied
    snapshot = dataset_snapshot_build(project=project, filters={"min_agreement": 0.6})
    writers.export_write(snapshot=snapshot, fmt="trl", out=tmp_path / "out")
    sheet = (tmp_path / "out" / "datasheet.md").read_text()
    # 18 labels: 6 ties from the third labeler; items 3–5 are split three ways (a tie).
    assert _line(sheet, "- Ties among the labels").endswith(": 0.333")
    assert _line(sheet, "- Ties among the snapshot's pairs").endswith(": 0.000")
    # Items 0–2: A by 2 of 3 (agreement 0.667), kept; items 3–5: a tie with
    # agreement 1/3, dropped by min_agreement before the ties filter sees them.
    assert _line(sheet, "  - min_agreement") == \
        "  - min_agreement (consensus below the threshold): 3 pairs"
    assert _line(sheet, "  - ties: drop") == "  - ties: drop (the consensus is a tie): 0 pairs"

    excluded = dataset_snapshot_build(project=project, filters={"exclude_labelers": [people[2].username]})
    writers.export_write(snapshot=excluded, fmt="trl", out=tmp_path / "ex")
    sheet = (tmp_path / "ex" / "datasheet.md").read_text()
    assert _line(sheet, "  - exclude_labelers") == "  - exclude_labelers: 6 labels"
    assert _line(sheet, "  - ties: drop") == "  - ties: drop (the consensus is a tie): 3 pairs"
    assert _line(sheet, "- Ties among the labels").endswith(": 0.000")
    assert excluded.agreement["pairs_dropped"]["ties"] == 3
