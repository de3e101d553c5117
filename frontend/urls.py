from django.contrib.auth import views as auth_views
from django.urls import path

from frontend.views import data, datasets, pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/<int:project_id>/label/", pages.label, name="label"),
    path("projects/<int:project_id>/datasets/", datasets.datasets, name="datasets"),
    path("label/assignments/<int:assignment_id>/content/", data.lease_content,
         name="label-content"),
    path("label/assignments/<int:assignment_id>/state/", data.lease_state, name="label-state"),
]
