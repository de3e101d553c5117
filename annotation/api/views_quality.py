"""Quality API: stored consensus, adjudication, the annotator table, the model
leaderboard and on-demand recompute. Reads are for admins and engineers;
writes for project admins."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView
from annotation.api.pagination import PalatePagination
from annotation.api.views_projects import paginated
from annotation.errors import Invalid
from annotation.models import Adjudication, ConsensusMethod, ItemConsensus
from annotation.services.adjudication import item_adjudicate
from annotation.services.quality_figures import labeler_rows
from annotation.services.quality_recompute import project_quality_current, project_quality_request

# ?ordering= values the consensus list accepts (anything else is a 400, never
# passed to order_by).
CONSENSUS_ORDERING = {"item": "item_id", "confidence": "confidence", "agreement": "agreement",
                      "n_labels": "n_labels", "computed_at": "computed_at"}


class AdjudicationOutput(serializers.ModelSerializer):
    decided_by = serializers.CharField(source="decided_by.username", default=None)

    class Meta:
        model = Adjudication
        fields = ["id", "item", "strength", "ranking", "feedback", "note", "decided_by", "created_at"]


class AdjudicationInput(serializers.Serializer):
    strength = serializers.JSONField(required=False, allow_null=True,
                                     help_text="Pairwise: −2 (A much better) … 2 (B much better).")
    ranking = serializers.JSONField(required=False, allow_null=True,
                                    help_text="Ranking: one rank per canonical response (1 is best).")
    feedback = serializers.JSONField(required=False, allow_null=True,
                                     help_text="Feedback: true (thumbs up) or false (thumbs down).")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ConsensusOutput(serializers.ModelSerializer):
    adjudication = serializers.SerializerMethodField()
    final = serializers.SerializerMethodField()

    class Meta:
        model = ItemConsensus
        fields = ["item", "method", "label", "strength", "ranking", "agreement", "confidence",
                  "n_labels", "needs_adjudication", "computed_at", "adjudication", "final"]

    def _latest(self, obj) -> Adjudication | None:
        decisions = obj.item.adjudications.all()  # prefetched, newest first
        return decisions[0] if decisions else None

    @extend_schema(responses=AdjudicationOutput(allow_null=True))
    def get_adjudication(self, obj) -> dict | None:
        latest = self._latest(obj)
        return AdjudicationOutput(latest).data if latest else None

    def get_final(self, obj) -> dict:
        """The label that counts: an admin's decision overrides the consensus."""
        latest = self._latest(obj)
        if latest is not None:
            return {"source": "adjudication", "strength": latest.strength, "ranking": latest.ranking}
        return {"source": "consensus", "strength": obj.strength, "ranking": obj.ranking}


class RecomputeInput(serializers.Serializer):
    method = serializers.ChoiceField(choices=ConsensusMethod.choices, required=False)


def _flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise Invalid("must be true or false", field="needs_adjudication")


class ConsensusListApi(ProjectApiView):
    """Stored per-item consensus (admins and engineers), weakest first by default."""

    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(
        parameters=[
            OpenApiParameter("needs_adjudication", bool, required=False),
            OpenApiParameter("ordering", str, required=False,
                             enum=sorted(CONSENSUS_ORDERING) + [f"-{k}" for k in sorted(CONSENSUS_ORDERING)]),
        ],
        responses=ConsensusOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        rows = ItemConsensus.objects.filter(project=project).select_related("item").prefetch_related(
            Prefetch("item__adjudications", queryset=Adjudication.objects.select_related(
                "decided_by").order_by("-created_at", "-pk")))
        flag = _flag(request.query_params.get("needs_adjudication"))
        if flag is not None:
            rows = rows.filter(needs_adjudication=flag)
        ordering = request.query_params.get("ordering") or "confidence"
        field = CONSENSUS_ORDERING.get(ordering.removeprefix("-"))
        if field is None:
            raise Invalid(f"must be one of {', '.join(sorted(CONSENSUS_ORDERING))}, optionally with -",
                          field="ordering")
        rows = rows.order_by(("-" if ordering.startswith("-") else "") + field, "item_id")
        return paginated(request, self, rows, ConsensusOutput)


class AdjudicateApi(ProjectApiView):
    """An admin's decision on an item; it overrides the consensus (snapshots included)."""

    project_need = access.MANAGE

    @extend_schema(request=AdjudicationInput, responses={201: AdjudicationOutput})
    def post(self, request, project_id: int, item_id: int):
        project = self.project
        item = access.item_for_user(user=request.user, project=project, item_id=item_id)
        data = AdjudicationInput(data=request.data)
        data.is_valid(raise_exception=True)
        adjudication = item_adjudicate(project=project, item=item, decided_by=request.user,
                                       data=data.validated_data)
        return Response(AdjudicationOutput(adjudication).data, status=status.HTTP_201_CREATED)


class ReliabilityApi(ProjectApiView):
    """The annotator table: volume, gold accuracy, agreement with the others'
    consensus, speed, position bias and flags; pairwise adds length bias and
    Dawid–Skene reliability, rankings the consensus weight. Flagged labelers last."""

    project_need = access.CURATE

    @extend_schema(responses={200: dict})
    def get(self, request, project_id: int):
        project = self.project
        state = project_quality_current(project=project)
        return Response({"computed_at": state.computed_at, "labelers": labeler_rows(state.report)})


class LeaderboardApi(ProjectApiView):
    """Bradley–Terry ratings of the compared models with bootstrap 95% intervals."""

    project_need = access.CURATE

    @extend_schema(responses={200: dict})
    def get(self, request, project_id: int):
        project = self.project
        state = project_quality_current(project=project)
        board = state.report.get("leaderboard") or {"rows": [], "n_battles": 0}
        return Response({"computed_at": state.computed_at} | board)


class RecomputeApi(ProjectApiView):
    """Recompute the consensus and figures now, on a worker (admins)."""

    project_need = access.MANAGE

    @extend_schema(request=RecomputeInput, responses={202: dict})
    def post(self, request, project_id: int):
        project = self.project
        data = RecomputeInput(data=request.data)
        data.is_valid(raise_exception=True)
        state = project_quality_request(project=project, method=data.validated_data.get("method"),
                                        actor=request.user)
        return Response({"queued": True, "computed_at": state.computed_at},
                        status=status.HTTP_202_ACCEPTED)
