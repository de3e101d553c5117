"""A simulated crowd labeling through the real services (queue, submission,
debounced recompute), read back from the database.

Five labelers with known behaviour label every item of a project whose items
carry a hidden A / tie / B truth: accuracies 0.9, 0.8 and 0.55 (a wrong answer
is one of the other two classes, uniformly), a spammer who clicks at random,
fast, and one who always picks the response shown on the left. The figures
come from the stored ItemConsensus rows and the ProjectQuality report that the
submissions' recompute wrote.
"""

import random
from unittest import mock

import numpy as np
from django.test import TestCase

from annotation.models import ItemConsensus, ProjectQuality, Role
from annotation.quality import consensus_majority
from annotation.services.quality_recompute import project_quality_recompute
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.factories import items_make, member_add, project_make, user_make

N_ITEMS = 200
ACCURACY = {"crowd_good": 0.9, "crowd_ok": 0.8, "crowd_weak": 0.55, "crowd_spam": None,
            "crowd_left": "left"}
SEED = 11


def _label(name: str, index: int, truth: int, left: int) -> tuple[int, int]:
    """(side, time in ms) for labeler ``name`` on item ``index``, whose canonical
    position ``left`` is shown on the left; seeded per pair, so the answer does not
    depend on the order the queue serves items in."""
    rng = np.random.default_rng([SEED, index, list(ACCURACY).index(name)])
    accuracy = ACCURACY[name]
    if accuracy == "left":  # canonical A (position 0) on the left is side −1
        return (-1 if left == 0 else 1), int(rng.integers(9000, 40000))
    if accuracy is None:
        return int(rng.integers(-1, 2)), int(rng.integers(800, 2500))
    side = truth if rng.random() < accuracy else int(rng.choice([c for c in (-1, 0, 1) if c != truth]))
    return side, int(rng.integers(9000, 40000))


def _label_the_project() -> dict:
    admin = user_make("crowd_admin")
    project = project_make(creator=admin, overlap=len(ACCURACY))
    users = {name: user_make(name) for name in ACCURACY}
    for user in users.values():
        member_add(project, user, Role.LABELER)
    items = items_make(project, N_ITEMS)
    index = {item.pk: k for k, item in enumerate(items)}
    truth = np.random.default_rng(SEED).choice([-1, 0, 1], size=N_ITEMS, p=[0.45, 0.1, 0.45])
    labels: dict[str, dict[int, int]] = {name: {} for name in ACCURACY}
    # The submissions' on-commit hooks run: the debounced recompute fires once
    # (eager Celery), on the first submission; a final on-demand recompute
    # below sees every label.
    # The queue shuffles each display order with the system's randomness; the
    # always-left labeler's answers follow it, so a seeded shuffle here keeps
    # the crowd (and what gets flagged) the same on every run.
    shuffler = random.Random(SEED)

    def display_order(k: int) -> list[int]:
        order = list(range(k))
        shuffler.shuffle(order)
        return order

    with TestCase.captureOnCommitCallbacks(execute=True), \
            mock.patch("annotation.services.queue._display_order", display_order):
        for name, user in users.items():
            while (lease := item_claim_next(project=project, labeler=user)) is not None:
                k = index[lease.item_id]
                side, ms = _label(name, k, int(truth[k]), lease.display_order[0])
                labels[name][lease.item_id] = side
                annotation_submit(assignment=lease, idempotency_key=new_idempotency_key(),
                                  data={"strength": side * (1 + k % 2), "time_on_task_ms": ms})
    runs = ProjectQuality.objects.get(project=project).runs
    state = project_quality_recompute(project=project)
    return {"project": project, "items": items, "truth": truth, "labels": labels, "state": state,
            "debounced_runs": runs}


def _truth_of(crowd) -> dict[int, int]:
    return {item.pk: int(t) for item, t in zip(crowd["items"], crowd["truth"], strict=True)}


class SimulatedCrowdThroughTheServices(TestCase):
    """The project is labeled once per class (1,000 claims and submissions, in
    setUpTestData's transaction); each test reads it back."""

    @classmethod
    def setUpTestData(cls):
        cls.crowd = _label_the_project()

    def test_1000_submissions_inside_the_window_recompute_once(self):
        crowd = self.crowd
        assert crowd["debounced_runs"] == 1

    def test_dawid_skene_consensus_recovers_the_truth_better_than_majority(self):
        crowd = self.crowd
        truth = _truth_of(crowd)
        stored = {c.item_id: c.label for c in ItemConsensus.objects.filter(project=crowd["project"])}
        assert len(stored) == N_ITEMS
        assert {c.method for c in ItemConsensus.objects.filter(project=crowd["project"])} == {"dawid_skene"}
        ds_accuracy = np.mean([stored[i] == truth[i] for i in truth])
        items, votes = zip(*[(i, side) for per in crowd["labels"].values() for i, side in per.items()],
                           strict=True)
        majority = consensus_majority(items=list(items), labels=list(votes), tie_label=0)
        majority_accuracy = np.mean([label == truth[int(i)] for i, label
                                     in zip(majority.item_ids, majority.label, strict=True)])
        assert ds_accuracy > majority_accuracy + 0.05
        assert ds_accuracy > 0.85

    def test_the_spammer_has_the_lowest_reliability_and_is_flagged(self):
        crowd = self.crowd
        rows = {row["username"]: row for row in crowd["state"].report["labelers"]}
        assert set(rows) == set(ACCURACY)
        spam = rows["crowd_spam"]
        assert spam["ds_accuracy"] == min(row["ds_accuracy"] for row in rows.values())
        assert {"disagrees", "too_fast"} <= set(spam["flags"])
        assert rows["crowd_good"]["flags"] == [] and rows["crowd_ok"]["flags"] == []

    def test_the_always_left_labeler_is_flagged_for_position_bias_and_only_them(self):
        rows = {row["username"]: row for row in self.crowd["state"].report["labelers"]}
        assert "position_bias" in rows["crowd_left"]["flags"]
        assert rows["crowd_left"]["first_share"] == 1.0
        assert [name for name, row in rows.items() if "position_bias" in row["flags"]] == ["crowd_left"]
        # Dawid–Skene orders the honest labelers by their true accuracy.
        assert rows["crowd_good"]["ds_accuracy"] > rows["crowd_weak"]["ds_accuracy"]
        assert rows["crowd_ok"]["ds_accuracy"] > rows["crowd_weak"]["ds_accuracy"]

    def test_items_flagged_for_adjudication_are_the_contested_ones(self):
        crowd = self.crowd
        labels, truth = crowd["labels"], _truth_of(crowd)
        flagged = set(ItemConsensus.objects.filter(project=crowd["project"], needs_adjudication=True)
                      .values_list("item_id", flat=True))
        assert flagged
        # Contested: the two reliable labelers disagree. Most flagged items are
        # contested (far above the rate among the others); no unanimous item is flagged.
        contested = {i for i in truth if labels["crowd_good"][i] != labels["crowd_ok"][i]}
        share_contested = len(flagged & contested) / len(flagged)
        base_rate = len(contested - flagged) / (len(truth) - len(flagged))
        assert share_contested >= 0.6 and share_contested > 2 * base_rate
        unanimous = {i for i in truth if len({per[i] for per in labels.values()}) == 1}
        assert not flagged & unanimous
        # And they are where the consensus is least trustworthy.
        stored = {c.item_id: c.label for c in ItemConsensus.objects.filter(project=crowd["project"])}
        right = {i: stored[i] == truth[i] for i in truth}
        assert np.mean([right[i] for i in flagged]) < np.mean([right[i] for i in truth if i not in flagged])
