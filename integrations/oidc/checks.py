"""System check: a malformed PALATE_OIDC_ROLE_MAP stops the start, naming the entry."""

from django.conf import settings
from django.core.checks import Error, register

from integrations.oidc.roles import oidc_role_map_clean


@register()
def oidc_role_map_check(app_configs, **kwargs):
    try:
        oidc_role_map_clean(settings.PALATE_OIDC_ROLE_MAP)
    except ValueError as error:
        return [Error(str(error), id="integrations.E001")]
    return []
