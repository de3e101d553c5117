"""OpenID Connect sign-in (mozilla-django-oidc's authorization-code flow), off
unless settings.PALATE_OIDC is on.

- ``backend``: who a provider's subject is (matched on issuer + subject, not on
  e-mail), the extra ID-token checks (issuer, audience, expiry, userinfo
  subject), and the group claim turned into project roles.
- ``roles``: the claim → project/role map, validated at start (``checks``) and
  applied through the membership services (audited, leases released).
- ``views``/``urls``: the library's start and callback views, answering 404
  while sign-in is off.
"""
