from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import access, selectors
from annotation.api.base import ProjectApiView
from annotation.api.pagination import PalatePagination
from annotation.api.serializers import AnnotationOutput, LeaseOutput, SubmitInput
from annotation.api.views_projects import paginated
from annotation.errors import ProjectArchived
from annotation.services.queue import assignment_skip, item_claim_next
from annotation.services.submissions import annotation_submit


class NextItemApi(ProjectApiView):
    """Lease the next item; the same live lease comes back if asked again.

    204 when the project has nothing left for this labeler; 409
    ``project_archived`` while the project is archived, 409 ``label_cap_reached``
    (the detail says which cap) when the labeler is at one of its caps.
    """

    project_need = access.LABEL

    @extend_schema(request=None, responses={200: LeaseOutput, 204: None})
    def post(self, request, project_id: int):
        project = self.project
        if project.archived_at is not None:
            raise ProjectArchived("This project is archived: it hands out no items.")
        assignment = item_claim_next(project=project, labeler=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(LeaseOutput(selectors.lease_shown(assignment=assignment)).data)


class AssignmentDetailApi(APIView):
    @extend_schema(responses=LeaseOutput)
    def get(self, request, assignment_id: int):
        assignment = access.assignment_for_labeler(user=request.user, assignment_id=assignment_id)
        return Response(LeaseOutput(selectors.lease_shown(assignment=assignment)).data)


class SubmitApi(APIView):
    """Record a judgement. 201 on the first submit; the same idempotency key
    again returns the same annotation with 200."""

    @extend_schema(request=SubmitInput, responses={200: AnnotationOutput, 201: AnnotationOutput})
    def post(self, request, assignment_id: int):
        assignment = access.assignment_for_labeler(user=request.user, assignment_id=assignment_id)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        key = values.pop("idempotency_key")
        assignment.labeler = request.user
        annotation, created = annotation_submit(assignment=assignment, data=values,
                                                idempotency_key=key)
        return Response(AnnotationOutput(annotation).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class SkipApi(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, assignment_id: int):
        assignment = access.assignment_for_labeler(user=request.user, assignment_id=assignment_id)
        assignment = assignment_skip(assignment=assignment)
        return Response({"assignment": assignment.pk, "status": assignment.status})


class MyAnnotationListApi(APIView):
    pagination_class = PalatePagination  # the schema shows the paginated shape

    @extend_schema(responses=AnnotationOutput(many=True))
    def get(self, request):
        annotations = selectors.annotation_list_for_labeler(labeler=request.user,
                                                            params=request.query_params)
        return paginated(request, self, annotations, AnnotationOutput)
