"""REST API of an arena's settings and pool: read by the project's engineers
and admins (CURATE), changed by its admins (MANAGE), as the settings page does.
Thin: the checks and the audit event are in arena.services.config."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from annotation import access
from annotation.api.base import ProjectApiView
from annotation.errors import NotFound
from arena.models import Arena
from arena.services.config import LIMIT_FIELDS, arena_settings, arena_settings_update


class PoolEntrySerializer(serializers.Serializer):
    model = serializers.CharField(max_length=200, help_text="A registered policy model's name.")
    weight = serializers.FloatField(min_value=0, max_value=1e6, default=1.0,
                                    help_text="Pairs are drawn in proportion to the weights' product.")


class ArenaSettingsSerializer(serializers.Serializer):
    is_enabled = serializers.BooleanField(required=False)
    max_turns = serializers.IntegerField(required=False, min_value=1, max_value=20)
    max_input_chars = serializers.IntegerField(required=False, min_value=1, max_value=20_000)
    max_output_tokens = serializers.IntegerField(required=False, min_value=1, max_value=4096)
    battles_per_hour = serializers.IntegerField(required=False, min_value=1,
                                                help_text="Per labeler.")
    tokens_per_hour = serializers.IntegerField(required=False, min_value=1, help_text="Per labeler.")
    sampling = serializers.DictField(required=False, help_text="temperature, top_p and seed.")
    suggested_prompts = serializers.ListField(child=serializers.CharField(max_length=20_000),
                                              required=False, max_length=50)
    join_promoted = serializers.BooleanField(
        required=False, help_text="A policy the training loop promotes joins the pool.")
    pool = PoolEntrySerializer(many=True, required=False,
                               help_text="When given, the whole active pool; models left out are "
                                         "set aside (their battles stay).")


class ArenaSettingsApi(ProjectApiView):
    project_need = {"get": access.CURATE, "put": access.MANAGE}

    @extend_schema(responses=ArenaSettingsSerializer)
    def get(self, request, project_id: int):
        arena = Arena.objects.filter(project=self.project).first()
        if arena is None:
            raise NotFound("this project has no arena", field="arena")
        return Response(arena_settings(arena))

    @extend_schema(request=ArenaSettingsSerializer, responses=ArenaSettingsSerializer)
    def put(self, request, project_id: int):
        """Turn arena mode on (a pairwise project) and change the fields given."""
        data = ArenaSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        pool = values.pop("pool", None)
        settings = {name: values[name] for name in (*LIMIT_FIELDS, "is_enabled", "sampling",
                                                    "suggested_prompts", "join_promoted")
                    if name in values}
        arena = arena_settings_update(project=self.project, settings=settings, pool=pool,
                                      actor=request.user, via="api")
        return Response(arena_settings(arena))
