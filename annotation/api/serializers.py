"""Input parsing and output shapes; no business rules live here."""

from rest_framework import serializers

from annotation.datasets.writers import writer_choices
from annotation.models import (
    Annotation,
    ApiToken,
    ComparisonItem,
    ConsensusMethod,
    DatasetExport,
    DatasetSnapshot,
    Membership,
    Project,
    Prompt,
    Response,
    ResponseSource,
    Role,
    TaskType,
)
from annotation.selectors import LeaseShown
from annotation.services.queue_priority import PRIORITY_MAX, PRIORITY_MIN

# ----- input -----


# The database column is a 32-bit integer: larger values were a 500 (found by the API fuzzer).


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, style={"input_type": "password"})
    name = serializers.CharField(max_length=100, required=False, default="")


class ProjectInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80)
    description = serializers.CharField(required=False, allow_blank=True)
    guidelines = serializers.CharField(required=False, allow_blank=True)
    task_type = serializers.ChoiceField(choices=TaskType.choices, required=False)
    num_responses = serializers.IntegerField(min_value=1, max_value=16, required=False,
                                             help_text="Default: the task type's (2, 4, 1).")
    overlap = serializers.IntegerField(min_value=1, max_value=50, required=False)
    lease_seconds = serializers.IntegerField(min_value=30, max_value=86400, required=False)
    criteria = serializers.JSONField(required=False)
    allow_ties = serializers.BooleanField(required=False)
    gold_rate = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    test_fraction = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    disagreement_first = serializers.BooleanField(required=False)
    consensus_method = serializers.ChoiceField(
        choices=[("", "task type default"), *ConsensusMethod.choices], required=False,
        help_text="Consensus for the dashboard, stored consensus and new snapshots "
                  "(pairwise: dawid_skene, majority, mean; ranking: weighted_rank, mean; "
                  "feedback: majority, dawid_skene).")
    adjudicate_below = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, allow_null=True,
        help_text="Adjudication threshold on the task type's measure (null: its default).")
    daily_label_cap = serializers.IntegerField(
        min_value=1, required=False, allow_null=True,
        help_text="At most this many labels per labeler per day (null: no cap); `next` answers 409 "
                  "label_cap_reached past it.")
    total_label_cap = serializers.IntegerField(
        min_value=1, required=False, allow_null=True,
        help_text="At most this many labels per labeler in all (null: no cap).")


class ArchiveInput(serializers.Serializer):
    archived = serializers.BooleanField()


class MembershipInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class RoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class PromptInputSerializer(serializers.Serializer):
    prompt = serializers.CharField(required=False, help_text="A single user turn.")
    messages = serializers.JSONField(required=False, help_text="[{role, content}, …]")
    external_id = serializers.CharField(required=False, allow_null=True, max_length=200)
    metadata = serializers.JSONField(required=False)


class ResponseInputSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False)
    source = serializers.ChoiceField(choices=ResponseSource.choices, default=ResponseSource.MODEL)
    model_name = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
    sampling = serializers.DictField(required=False, default=dict)
    metadata = serializers.DictField(required=False, default=dict)


class ItemInput(serializers.Serializer):
    prompt_id = serializers.IntegerField()
    responses = ResponseInputSerializer(many=True)
    priority = serializers.IntegerField(required=False, default=0, min_value=PRIORITY_MIN,
                                        max_value=PRIORITY_MAX)
    is_gold = serializers.BooleanField(required=False, default=False)
    gold_answer = serializers.JSONField(required=False, allow_null=True, default=None)


class ItemUpdateInput(serializers.Serializer):
    priority = serializers.IntegerField(required=False, min_value=PRIORITY_MIN, max_value=PRIORITY_MAX)
    is_gold = serializers.BooleanField(required=False)
    gold_answer = serializers.JSONField(required=False, allow_null=True)
    in_queue = serializers.BooleanField(
        required=False, help_text="false takes the item out of the queue (its live leases end); "
                                  "true puts it back.")


class SubmitInput(serializers.Serializer):
    idempotency_key = serializers.CharField(min_length=8, max_length=64)
    strength = serializers.IntegerField(required=False, allow_null=True,
                                        help_text="-2 A much better … 0 tie … 2 B much better")
    both_bad = serializers.BooleanField(required=False, default=False)
    ranking = serializers.ListField(child=serializers.IntegerField(), required=False,
                                    allow_null=True, help_text="Rank per canonical response.")
    feedback = serializers.JSONField(required=False, allow_null=True,
                                     help_text="Single-response feedback: true (thumbs up) or false (down).")
    ratings = serializers.DictField(child=serializers.ListField(
        child=serializers.IntegerField(allow_null=True)), required=False, default=dict)
    rationale = serializers.CharField(required=False, allow_blank=True, default="",
                                      max_length=20000)
    flagged_unsafe = serializers.BooleanField(required=False, default=False)
    time_on_task_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0)


# ----- output -----


class BulkPromptOutput(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField(),
                                help_text="One per prompt sent, in order.")


class TokenOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]


class ProjectOutput(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = [
            "id", "name", "slug", "description", "guidelines", "task_type", "num_responses",
            "overlap", "lease_seconds", "criteria", "allow_ties", "gold_rate", "test_fraction",
            "disagreement_first", "consensus_method", "adjudicate_below", "daily_label_cap",
            "total_label_cap", "archived_at", "created_at", "updated_at",
        ]


class MembershipOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]


class PromptOutput(serializers.ModelSerializer):
    class Meta:
        model = Prompt
        fields = ["id", "external_id", "messages", "content_hash", "split", "metadata",
                  "created_at"]


class ResponseOutput(serializers.ModelSerializer):
    class Meta:
        model = Response
        fields = ["id", "text", "source", "model_name", "sampling", "metadata", "created_at"]


class ItemOutput(serializers.ModelSerializer):
    responses = serializers.SerializerMethodField()

    class Meta:
        model = ComparisonItem
        fields = ["id", "prompt", "responses", "is_gold", "gold_answer", "priority",
                  "assigned_count", "submitted_count", "is_open", "removed_at", "created_at"]

    def get_responses(self, item) -> list[dict]:
        slots = sorted(item.slots.all(), key=lambda s: s.position)
        return [ResponseOutput(s.response).data | {"position": s.position} for s in slots]


class AnnotationOutput(serializers.ModelSerializer):
    class Meta:
        model = Annotation
        fields = ["id", "item", "assignment", "source", "strength", "both_bad", "ranking",
                  "feedback", "ratings", "rationale", "flagged_unsafe", "display_order", "time_on_task_ms",
                  "idempotency_key", "created_at"]


class AdminAnnotationOutput(AnnotationOutput):
    labeler = serializers.CharField(source="labeler.username", read_only=True)

    class Meta(AnnotationOutput.Meta):
        fields = [*AnnotationOutput.Meta.fields, "labeler"]


class LeaseOutput(serializers.Serializer):
    """What a labeler sees: no gold flag, no model names (both would bias)."""

    assignment = serializers.IntegerField(source="assignment.pk")
    item = serializers.IntegerField(source="assignment.item_id")
    project = serializers.IntegerField(source="assignment.project_id")
    status = serializers.CharField(source="assignment.status")
    leased_at = serializers.DateTimeField(source="assignment.leased_at")
    expires_at = serializers.DateTimeField(source="assignment.expires_at")
    display_order = serializers.ListField(child=serializers.IntegerField(),
                                          source="assignment.display_order")
    messages = serializers.SerializerMethodField()
    responses = serializers.SerializerMethodField(
        help_text="In display order; 'position' is the canonical position (0 = A).")

    def get_messages(self, lease: LeaseShown) -> list[dict]:
        return lease.messages

    def get_responses(self, lease: LeaseShown) -> list[dict]:
        return lease.responses()


class SnapshotInput(serializers.Serializer):
    filters = serializers.DictField(required=False, default=dict,
                                    help_text="consensus, min_agreement, min_labels, ties, both_bad, "
                                              "exclude_labelers, include_model_labels, date_from, date_to")


class SnapshotOutput(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = ["id", "version", "status", "filters", "code_version", "counts", "agreement",
                  "content_hash", "error", "created_at", "finished_at"]


class ExportInput(serializers.Serializer):
    format = serializers.ChoiceField(choices=writer_choices())
    style = serializers.ChoiceField(choices=["conversational", "text"], default="conversational")
    meta = serializers.BooleanField(default=False)


class ExportOutput(serializers.ModelSerializer):
    snapshot_version = serializers.IntegerField(source="snapshot.version", read_only=True)

    class Meta:
        model = DatasetExport
        fields = ["id", "snapshot", "snapshot_version", "format", "style", "meta", "status",
                  "progress_rows", "total_rows", "size_bytes", "error", "created_at",
                  "started_at", "finished_at"]
