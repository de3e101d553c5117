"""The API base (annotation/api/base.py): every view under projects/<project_id>/
resolves and authorizes the project before its handler, and only for a method
it handles."""

from django.urls import URLPattern, URLResolver, get_resolver

from annotation.api.base import ProjectApiView


def _patterns(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_every_api_view_under_a_project_derives_from_the_project_base():
    scoped = {route: getattr(callback, "view_class", None)
              for route, callback in _patterns(get_resolver())
              if route.startswith("api/") and "<int:project_id>" in route}
    assert len(scoped) > 40
    outside = sorted(route for route, view in scoped.items()
                     if view is None or not issubclass(view, ProjectApiView))
    assert outside == []


def test_an_outsider_gets_404_and_an_unsupported_method_is_still_405(api, project, outsider, labeler):
    url = f"/api/projects/{project.pk}/snapshots/"
    assert api(outsider).get(url).status_code == 404
    assert api(labeler).get(url).status_code == 403
    assert api(outsider).put(url, {}, format="json").status_code == 405
    assert api(outsider).options(url).status_code == 200


def test_a_method_may_need_another_role_than_the_others(api, project, engineer):
    url = f"/api/projects/{project.pk}/"
    assert api(engineer).get(url).status_code == 200
    assert api(engineer).patch(url, {"name": "x"}, format="json").status_code == 403
