"""The Django admin covers every model, and the service-owned ones are read-only there."""

import pytest
from django.apps import apps
from django.contrib import admin

from annotation.models import ProjectQuality
from tests.factories import project_make, user_make

PALATE_APPS = {"annotation", "generation", "training", "audit", "integrations", "arena"}


def test_every_model_is_in_the_admin():
    inline_models = {inline.model for model_admin in admin.site._registry.values()
                     for inline in model_admin.inlines}
    missing = [model._meta.label for model in apps.get_models()
               if model._meta.app_label in PALATE_APPS
               and model not in admin.site._registry and model not in inline_models]
    assert missing == []


@pytest.mark.django_db
def test_service_owned_rows_are_shown_but_not_editable(client, settings):
    # Admin pages render static links; the suite has no collected manifest.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    root = user_make("admin_root", superuser=True)
    project = project_make(creator=root)
    quality = ProjectQuality.objects.create(project=project, report={"alpha": 0.5})
    client.force_login(root)
    base = "/admin/annotation/projectquality/"
    assert client.get(base).status_code == 200
    page = client.get(f"{base}{quality.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # a view page, no save button
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{quality.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ProjectQuality.objects.filter(pk=quality.pk).exists()
