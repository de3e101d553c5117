"""The Django admin's user list with Palate's account actions: forget a user
(personal data out, annotations kept under a pseudonym) and issue a one-time
password-reset link. Both for superusers only, through the same services as
the commands and the API."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from annotation.errors import DomainError
from annotation.services.users import user_forget, user_password_reset_link
from audit.admin_deletes import AuditedDeleteAdmin

User = get_user_model()


class PalateUserAdmin(AuditedDeleteAdmin, UserAdmin):
    actions = ["forget_users", "password_reset_links"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("forget_users", None)
            actions.pop("password_reset_links", None)
        return actions

    @admin.action(description="Forget selected users (remove personal data, keep annotations)")
    def forget_users(self, request, queryset):
        for user in queryset.order_by("pk"):
            name = user.username
            try:
                pseudonym = user_forget(actor=request.user, user=user)
            except DomainError as error:
                self.message_user(request, f"{name}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{name} forgotten; now {pseudonym}", messages.SUCCESS)

    @admin.action(description="Issue one-time password-reset links")
    def password_reset_links(self, request, queryset):
        for user in queryset.order_by("pk"):
            try:
                link = user_password_reset_link(actor=request.user, user=user)
            except DomainError as error:
                self.message_user(request, f"{user.username}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{user.username}: {request.build_absolute_uri(link.path)} "
                                           f"(once, until {link.expires_at:%Y-%m-%d %H:%M} UTC)",
                                  messages.WARNING)


admin.site.unregister(User)
admin.site.register(User, PalateUserAdmin)
