"""django-celery-beat's periodic-task form in the admin, under the site's CSP:
the crontab's reading in words still appears, and nothing is blocked."""

import pytest
from django_celery_beat.models import CrontabSchedule

from tests.browser.helpers import PASSWORD, user

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_periodic_task_form_works_under_the_csp(page, live_app):
    user("root_rita", is_superuser=True, is_staff=True)
    crontab = CrontabSchedule.objects.create(minute="30", hour="4")
    page.goto(f"{live_app}/admin/login/?next=/admin/django_celery_beat/periodictask/add/")
    page.locator("#id_username").fill("root_rita")
    page.locator("#id_password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_app}/admin/django_celery_beat/periodictask/add/")

    page.locator("#id_crontab").select_option(str(crontab.pk))
    help_text = page.locator(".field-crontab .help")
    help_text.get_by_text("Translation:").wait_for()
    assert "04:30" in help_text.inner_text() or "4:30" in help_text.inner_text()
    assert page.evaluate("window.__cspViolations") == []
