"""The data page: counts, the upload kinds, and who may open it."""

import pytest

from tests.factories import items_make


def test_the_data_page_shows_counts_and_uploads_through_the_import_api(project, engineer, client):
    items_make(project, 3)
    client.force_login(engineer)
    page = client.get(f"/projects/{project.pk}/data/").content.decode()
    assert '<dd data-count="items">3 (2 responses each)</dd>' in page
    assert f'data-api="/api/projects/{project.pk}/imports/"' in page
    for kind in ("prompts", "items", "preferences"):
        assert f'name="kind" value="{kind}"' in page
    # Engineers get no link to the admin-only settings page.
    assert f"/projects/{project.pk}/settings/" not in page


@pytest.mark.parametrize(("persona", "status"), [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_open_it(project, persona, status, client, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(f"/projects/{project.pk}/data/").status_code == status
