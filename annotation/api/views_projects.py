from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import access, selectors
from annotation.api.base import ProjectApiView, paginated
from annotation.api.pagination import PalatePagination
from annotation.api.serializers import (
    AdminAnnotationOutput,
    ArchiveInput,
    BulkPromptOutput,
    ItemInput,
    ItemOutput,
    ItemUpdateInput,
    MembershipInput,
    MembershipOutput,
    ProjectInput,
    ProjectOutput,
    PromptInputSerializer,
    PromptOutput,
    RoleInput,
)
from annotation.errors import Forbidden, Invalid
from annotation.models import Membership
from annotation.services import items as item_services
from annotation.services import items_bulk, queue, queue_priority
from annotation.services import projects as project_services
from annotation.services.items import ResponseInput
from annotation.services.prompts import prompt_create_many, prompt_input_from_dict
from annotation.services.quality import project_agreement_report


class ProjectListApi(APIView):
    pagination_class = PalatePagination  # the schema shows the paginated shape

    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        return paginated(request, self, access.projects_for_user(user=request.user), ProjectOutput)

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput})
    def post(self, request):
        if not access.project_can_create(user=request.user):
            raise Forbidden("Only site administrators and users allowed to create projects do.")
        data = ProjectInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_services.project_create(creator=request.user, **data.validated_data)
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ProjectApiView):
    project_need = {"get": access.VIEW, "patch": access.MANAGE, "delete": access.MANAGE}

    @extend_schema(responses=ProjectOutput)
    def get(self, request, project_id: int):
        project = self.project
        return Response(ProjectOutput(project).data)

    @extend_schema(request=ProjectInput(partial=True), responses=ProjectOutput)
    def patch(self, request, project_id: int):
        project = self.project
        data = ProjectInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_services.project_update(project=project, actor=request.user,
                                                  **data.validated_data)
        return Response(ProjectOutput(project).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int):
        project = self.project
        project_services.project_delete(project=project, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectArchiveApi(ProjectApiView):
    """Archive (``{"archived": true}``) or bring back a project; admins only."""

    project_need = access.MANAGE

    @extend_schema(request=ArchiveInput, responses=ProjectOutput)
    def post(self, request, project_id: int):
        project = self.project
        data = ArchiveInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_services.project_set_archived(
            project=project, archived=data.validated_data["archived"], actor=request.user)
        return Response(ProjectOutput(project).data)


class MemberListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.MANAGE

    @extend_schema(responses=MembershipOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        members = Membership.objects.filter(project=project).select_related("user")
        return paginated(request, self, members, MembershipOutput)

    @extend_schema(request=MembershipInput, responses={201: MembershipOutput})
    def post(self, request, project_id: int):
        project = self.project
        data = MembershipInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership, created = project_services.membership_set(project=project, actor=request.user,
                                                              **data.validated_data)
        return Response(MembershipOutput(membership).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MemberDetailApi(ProjectApiView):
    project_need = access.MANAGE

    @extend_schema(request=RoleInput, responses=MembershipOutput)
    def patch(self, request, project_id: int, membership_id: int):
        project = self.project
        membership = access.membership_for_admin(project=project, membership_id=membership_id)
        data = RoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = project_services.membership_change_role(
            membership=membership, role=data.validated_data["role"], actor=request.user)
        return Response(MembershipOutput(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, membership_id: int):
        project = self.project
        membership = access.membership_for_admin(project=project, membership_id=membership_id)
        project_services.membership_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PromptListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(responses=PromptOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        prompts = selectors.prompt_list(project=project, params=request.query_params)
        return paginated(request, self, prompts, PromptOutput)

    @extend_schema(request=PromptInputSerializer(many=True), responses={201: BulkPromptOutput})
    def post(self, request, project_id: int):
        """Bulk create: a list of prompts, all or nothing; duplicates are skipped.
        ``ids`` has one id per prompt sent, in order (a duplicate's is the stored prompt's)."""
        project = self.project
        if not isinstance(request.data, list):
            raise Invalid("send a JSON list of prompts")
        entries = [prompt_input_from_dict(entry, field_prefix=f"[{index}].")
                   for index, entry in enumerate(request.data)]
        result = prompt_create_many(project=project, entries=entries, actor=request.user)
        return Response({"created": result.created, "duplicates": result.duplicates,
                         "ids": result.ids}, status=status.HTTP_201_CREATED)


class PromptDetailApi(ProjectApiView):
    project_need = access.CURATE

    @extend_schema(responses=PromptOutput)
    def get(self, request, project_id: int, prompt_id: int):
        project = self.project
        prompt = access.prompt_for_user(user=request.user, project=project, prompt_id=prompt_id)
        return Response(PromptOutput(prompt).data)


class ItemListApi(ProjectApiView):
    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(responses=ItemOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        items = selectors.item_list(project=project, params=request.query_params)
        return paginated(request, self, items, ItemOutput)

    @extend_schema(request=ItemInput, responses={201: ItemOutput})
    def post(self, request, project_id: int):
        """One item (an object; answers the item), or many (a list, all or nothing;
        answers ``ids``, one per entry in order — see ``BulkItemInput``)."""
        project = self.project
        if isinstance(request.data, list):
            return self._post_many(request, project)
        data = ItemInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["is_gold"]:
            # Gold answers are the quality bar: only admins set them.
            access.project_for_user(user=request.user, project_id=project_id, need=access.MANAGE)
        prompt = access.prompt_for_user(user=request.user, project=project,
                                        prompt_id=values["prompt_id"])
        item = item_services.item_create(
            project=project, prompt=prompt,
            responses=[ResponseInput(**r) for r in values["responses"]],
            priority=values["priority"], is_gold=values["is_gold"],
            gold_answer=values["gold_answer"], actor=request.user,
        )
        return Response(ItemOutput(selectors.item_detail(item=item)).data,
                        status=status.HTTP_201_CREATED)


    def _post_many(self, request, project):
        entries = [items_bulk.item_entry_from_dict(entry, field_prefix=f"[{index}].")
                   for index, entry in enumerate(request.data)]
        if any(entry.is_gold for entry in entries):
            # Gold answers are the quality bar: only admins set them.
            access.project_for_user(user=request.user, project_id=project.pk, need=access.MANAGE)
        result = items_bulk.items_create_many(project=project, entries=entries, actor=request.user)
        return Response({"created": result.created, "duplicates": result.duplicates,
                         "prompts_created": result.prompts_created, "ids": result.ids},
                        status=status.HTTP_201_CREATED)


class ItemDetailApi(ProjectApiView):
    project_need = {"get": access.CURATE, "patch": access.MANAGE}

    @extend_schema(responses=ItemOutput)
    def get(self, request, project_id: int, item_id: int):
        project = self.project
        item = access.item_for_user(user=request.user, project=project, item_id=item_id)
        return Response(ItemOutput(selectors.item_detail(item=item)).data)

    @extend_schema(request=ItemUpdateInput, responses=ItemOutput)
    def patch(self, request, project_id: int, item_id: int):
        project = self.project
        item = access.item_for_user(user=request.user, project=project, item_id=item_id)
        data = ItemUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "priority" in values:
            item = queue_priority.item_priority_set(item=item, priority=values["priority"],
                                                    actor=request.user, via="api")
        if "is_gold" in values or "gold_answer" in values:
            item = item_services.item_set_gold(
                item=item, is_gold=values.get("is_gold", item.is_gold),
                gold_answer=values.get("gold_answer", item.gold_answer), actor=request.user, via="api")
        if "in_queue" in values:
            change = queue.item_restore_to_queue if values["in_queue"] else queue.item_remove_from_queue
            item = change(item=item, actor=request.user)
        return Response(ItemOutput(selectors.item_detail(item=item)).data)


class ProjectAnnotationListApi(ProjectApiView):
    """All annotations of a project: admins and engineers only."""

    pagination_class = PalatePagination  # the schema shows the paginated shape
    project_need = access.CURATE

    @extend_schema(responses=AdminAnnotationOutput(many=True))
    def get(self, request, project_id: int):
        project = self.project
        annotations = selectors.annotation_list_for_project(project=project,
                                                            params=request.query_params)
        return paginated(request, self, annotations, AdminAnnotationOutput)


class AgreementApi(ProjectApiView):
    """The project's agreement report (admins and engineers)."""

    project_need = access.CURATE

    @extend_schema(responses={200: dict})
    def get(self, request, project_id: int):
        project = self.project
        return Response(project_agreement_report(project=project, n_resamples=200))
