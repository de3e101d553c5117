import pytest
from rest_framework.test import APIClient
from tests.conftest import client_for

@pytest.fixture(autouse=True)
def plain_static(settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

def test_probe(project, items, admin, labeler, superuser):
    anon = APIClient()
    for url in ["/api/schema/", "/api/docs/"]:
        r = anon.get(url)
        print(url, "anon", r.status_code, r.headers.get("Content-Type"))
        r = client_for(labeler).get(url)
        print(url, "labeler", r.status_code)
        c = APIClient(); c.force_login(labeler)
        print(url, "session", c.get(url).status_code)
    r = anon.get("/api/me/")
    print("me anon", r.status_code, r.data, r.headers.get("WWW-Authenticate"))
    r = client_for(superuser).post("/api/projects/", {"name": "x", "slug": project.slug}, format="json")
    print("dup slug", r.status_code)
