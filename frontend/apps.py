from django.apps import AppConfig


class FrontendConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "frontend"

    def ready(self):
        from django.contrib import admin

        from frontend.views.auth import ThrottledAdminAuthenticationForm

        # The admin's login says "too many attempts" when the login budget
        # refused, like the login page (the budget itself is in the backend).
        admin.site.login_form = ThrottledAdminAuthenticationForm

        # django-celery-beat's task form carries an inline script the CSP
        # blocks; ours loads the same behaviour from a static file.
        from django_celery_beat.admin import PeriodicTaskAdmin

        PeriodicTaskAdmin.change_form_template = "frontend/admin/change_periodictask_form.html"
