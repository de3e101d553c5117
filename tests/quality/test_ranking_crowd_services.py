"""A simulated K-way ranking crowd labeling through the real services, read back
through the API, the stored consensus and the quality page.

Six labelers rank K = 4 responses with overlap 3: four careful ones (the hidden
quality plus Gaussian noise of growing size), one who shuffles at random and
one who always ranks in the order shown. Labelers take turns in a random order
each round, so every item gets three different ones.
"""

from io import StringIO

import numpy as np
from django.conf import settings
from django.core.management import call_command
from django.test import Client, TestCase, override_settings
from rest_framework.test import APIClient

from annotation.datasets.rows import labeler_pseudonym
from annotation.models import Annotation, ItemConsensus, ItemResponse, Role, TaskType
from annotation.quality import consensus_rankings, kendall_tau_b
from annotation.services.consensus import item_consensus_recompute
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.quality_recompute import project_quality_recompute
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.factories import items_make, member_add, project_make, user_make

N_ITEMS = 150
K = 4
NOISE = {"rk_careful_a": 0.3, "rk_careful_b": 0.45, "rk_careful_c": 0.6, "rk_careful_d": 0.75,
         "rk_shuffler": "shuffle", "rk_in_order": "display"}
SEED = 5


def _ranking(name: str, index: int, quality: np.ndarray, display_order: list[int]) -> list[int]:
    """Labeler ``name``'s ranking of item ``index`` (canonical positions, 1 is best),
    seeded per (item, labeler) so it does not depend on the order items are served."""
    rng = np.random.default_rng([SEED, index, list(NOISE).index(name)])
    behaviour = NOISE[name]
    if behaviour == "shuffle":
        return (rng.permutation(K) + 1).tolist()
    ranks = np.empty(K, dtype=int)
    if behaviour == "display":
        ranks[display_order] = np.arange(1, K + 1)  # first shown is ranked best
        return ranks.tolist()
    noisy = quality + rng.normal(scale=behaviour, size=K)
    ranks[np.argsort(-noisy)] = np.arange(1, K + 1)
    return ranks.tolist()


def _true_ranks(quality: np.ndarray) -> np.ndarray:
    ranks = np.empty(K)
    ranks[np.argsort(-quality)] = np.arange(1, K + 1)
    return ranks


def _label_the_project() -> dict:
    admin = user_make("rk_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=K, overlap=3)
    users = {name: user_make(name) for name in NOISE}
    for user in users.values():
        member_add(project, user, Role.LABELER)
    items = items_make(project, N_ITEMS)
    index = {item.pk: k for k, item in enumerate(items)}
    quality = np.random.default_rng(SEED).normal(size=(N_ITEMS, K))
    order_rng = np.random.default_rng(SEED + 1)
    active = list(users)
    while active:
        for name in [active[i] for i in order_rng.permutation(len(active))]:
            lease = item_claim_next(project=project, labeler=users[name])
            if lease is None:
                active.remove(name)
                continue
            k = index[lease.item_id]
            annotation_submit(assignment=lease, idempotency_key=new_idempotency_key(), data={
                "ranking": _ranking(name, k, quality[k], lease.display_order),
                "time_on_task_ms": int(order_rng.integers(9000, 40000))})
    truth = {item.pk: _true_ranks(quality[k]) for item, k in ((i, index[i.pk]) for i in items)}
    state = project_quality_recompute(project=project)
    return {"project": project, "admin": admin, "users": users, "truth": truth, "state": state}


def _tau_to_truth(truth: dict, rankings: dict) -> dict:
    return {i: kendall_tau_b(x=truth[i], y=rankings[i]) for i in truth}


class RankingCrowdThroughTheServices(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.crowd = _label_the_project()

    def setUp(self):
        self.api = APIClient()
        self.api.force_authenticate(self.crowd["admin"])

    def _reliability(self) -> list[dict]:
        response = self.api.get(f"/api/projects/{self.crowd['project'].pk}/reliability/")
        assert response.status_code == 200
        return response.json()["labelers"]

    def test_both_bad_rankers_are_flagged_and_ranked_last_in_the_annotator_table(self):
        rows = self._reliability()
        assert [r["username"] for r in rows[-2:]] in (["rk_shuffler", "rk_in_order"],
                                                       ["rk_in_order", "rk_shuffler"])
        by_name = {r["username"]: r for r in rows}
        assert set(by_name) == set(NOISE)
        assert "spammer" in by_name["rk_shuffler"]["flags"]
        assert "position_bias" not in by_name["rk_shuffler"]["flags"]
        # Ranked in display order: position-biased only, not taken for a random ranker.
        assert by_name["rk_in_order"]["flags"] == ["position_bias"]
        assert by_name["rk_in_order"]["first_share"] == 1.0 and by_name["rk_in_order"]["first_z"] > 10
        for name in NOISE:
            if name.startswith("rk_careful"):
                row = by_name[name]
                assert row["flags"] == [] and row["loo_agreement"] > 0.3 and row["reliability"] > 0.3
                assert 9 <= row["median_seconds"] <= 40
        assert by_name["rk_shuffler"]["reliability"] == 0 and by_name["rk_in_order"]["reliability"] == 0

    def test_weighted_consensus_beats_the_mean_rank_against_the_truth(self):
        project, truth = self.crowd["project"], self.crowd["truth"]
        stored = {c.item_id: c for c in ItemConsensus.objects.filter(project=project)}
        assert {c.method for c in stored.values()} == {"weighted_rank"}  # the ranking default
        weighted = _tau_to_truth(truth, {i: c.ranking for i, c in stored.items()})
        rows = list(Annotation.objects.filter(project=project).values_list(
            "item_id", "labeler_id", "ranking"))
        plain = consensus_rankings(items=[r[0] for r in rows], labelers=[r[1] for r in rows],
                                   rankings=[r[2] for r in rows])
        mean_rank = _tau_to_truth(truth, dict(zip(plain.item_ids.tolist(), plain.ranking, strict=True)))
        assert np.mean(list(weighted.values())) > np.mean(list(mean_rank.values())) + 0.05

    def test_the_adjudication_queue_holds_the_disputed_items_not_half_of_them(self):
        project, truth = self.crowd["project"], self.crowd["truth"]
        response = self.api.get(f"/api/projects/{project.pk}/consensus/?needs_adjudication=true&limit=500")
        flagged = {row["item"] for row in response.json()["results"]}
        assert 0 < len(flagged) < 0.2 * N_ITEMS
        stored = {c.item_id: c.ranking for c in ItemConsensus.objects.filter(project=project)}
        tau = _tau_to_truth(truth, stored)
        # The flagged items are where the consensus is least trustworthy.
        assert np.mean([tau[i] for i in flagged]) < np.mean([tau[i] for i in truth if i not in flagged]) - 0.1
        # The same W threshold on the mean rank, which the random rankers dilute, flags far more.
        mean_flags = item_consensus_recompute(project=project, method="mean")["n_flagged"]
        assert mean_flags > 2 * len(flagged)

    def test_dataset_position_bias_is_flagged_and_names_the_ranker_who_drives_it(self):
        report = self.crowd["state"].report
        position = report["position_bias"]
        assert position["flagged"] and position["expected"] == 0.5
        assert position["drivers"] == [labeler_pseudonym(self.crowd["users"]["rk_in_order"].pk)]
        assert report["health"]["position_bias"]["flagged"]

    def test_agreement_api_carries_alpha_on_ranks_with_its_interval(self):
        response = self.api.get(f"/api/projects/{self.crowd['project'].pk}/agreement/")
        assert response.status_code == 200
        alpha = response.json()["alpha_ordinal"]
        assert alpha["low"] < alpha["estimate"] < alpha["high"]
        assert 0.05 < alpha["estimate"] < 0.9
        assert response.json()["n_labelers"] == len(NOISE)

    def test_the_quality_page_names_what_each_figure_computes(self):
        # Plain static storage: the manifest one needs collectstatic first (as tests/frontend do).
        storages = {**settings.STORAGES, "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        with override_settings(STORAGES=storages):
            self._check_the_quality_page()

    def _check_the_quality_page(self):
        web = Client()
        web.force_login(self.crowd["admin"])
        page = web.get(f"/projects/{self.crowd['project'].pk}/quality/").content.decode()
        assert "Krippendorff&#x27;s α on ranks (ordinal)" in page
        assert "A / tie / B" not in page and "Mean strength" not in page
        assert "Reliability-weighted mean rank" in page
        # The heatmap shows Kendall's tau-b between annotators, the shuffler near 0 with everyone.
        assert "Mean Kendall&#x27;s τ-b between the two annotators&#x27; rankings" in page
        cell = page.split('data-a="rk_careful_a" data-b="rk_shuffler" data-kappa="')[1].split('"')[0]
        assert abs(float(cell)) < 0.3
        assert "Kendall&#x27;s W of the labelers who count" in page
        assert "No labels yet" not in page.split('id="annotators-title"')[1].split("</section>")[0]
        table = page.split('id="annotators"')[1].split("</table>")[0]
        assert all(f'data-username="{name}"' in table for name in NOISE)
        positions = sorted(NOISE, key=lambda n: table.index(f'data-username="{n}"'))
        assert set(positions[-2:]) == {"rk_shuffler", "rk_in_order"}

    def test_snapshots_use_the_project_default_consensus(self):
        project = self.crowd["project"]
        snapshot = dataset_snapshot_build(project=project)
        assert snapshot.filters["consensus"] == "weighted_rank"
        # Its pairs follow the stored weighted consensus, not the mean rank.
        stored = {c.item_id: c.ranking for c in ItemConsensus.objects.filter(project=project)}
        position = dict(ItemResponse.objects.filter(item__project=project).values_list(
            "response_id", "position"))
        pairs = list(snapshot.pairs.filter(is_tie=False).values_list(
            "item_id", "chosen_response_id", "rejected_response_id"))
        assert len(pairs) > 0.9 * N_ITEMS * K * (K - 1) / 2
        assert all(stored[i][position[c]] < stored[i][position[r]] for i, c, r in pairs)
        project.consensus_method = "mean"
        project.save(update_fields=["consensus_method"])
        assert dataset_snapshot_build(project=project).filters["consensus"] == "mean"

    def test_the_agreement_command_prints_the_ranking_figures_and_flags(self):
        out = StringIO()
        call_command("agreement", self.crowd["project"].slug, "--resamples", "20", stdout=out)
        text = out.getvalue()
        assert "Krippendorff's α on ranks (ordinal):" in text and "mean Kendall's W" in text
        assert "position bias:" in text and "flagged, driven by L-" in text
        lines = {line.split(":")[0].strip(): line for line in text.splitlines() if line.startswith("  ")}
        assert lines["rk_in_order"].endswith("flags: position_bias")
        assert "spammer" in lines["rk_shuffler"] and lines["rk_careful_a"].endswith("flags: -")
