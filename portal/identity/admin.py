"""Lock-outs and recovery codes in the admin (superusers, through Django's
model permissions like every model that is not a squad's)."""

from __future__ import annotations

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.identity.models import EncryptedTOTPDevice, OidcIdentity, RecoveryCodeDevice
from portal.identity.throttling import lockouts_lift

admin.site.unregister(AccessAttempt)
# Its devices were moved to EncryptedTOTPDevice (migration identity 0004): its
# admin would list an empty table, and offers to add a device with a clear key.
admin.site.unregister(TOTPDevice)


@admin.register(AccessAttempt)
class LockoutAdmin(AccessAttemptAdmin):
    """axes' failed-login counters, with the action that lifts lock-outs."""

    actions = ["lift_lockouts", *AccessAttemptAdmin.actions]

    @admin.action(description="Lift the lock-outs of these accounts and addresses", permissions=["delete"])
    def lift_lockouts(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        usernames = [name for name in queryset.values_list("username", flat=True) if name]
        addresses = [address for address in queryset.values_list("ip_address", flat=True) if address]
        removed = lockouts_lift(usernames=usernames, addresses=addresses)
        accounts = ", ".join(sorted(set(usernames))) or "no account"
        places = ", ".join(sorted(set(addresses))) or "no address"
        self.message_user(
            request,
            f"Lifted: {accounts} and {places} may log in again ({removed} counters of failures removed).",
            messages.SUCCESS,
        )


@admin.register(RecoveryCodeDevice)
class RecoveryCodeDeviceAdmin(admin.ModelAdmin):
    """Whose recovery codes exist and how many are left; never the codes
    (only their hashes are kept). Deleting them, or the person's TOTP device,
    is how someone who lost their phone gets to set up a new one."""

    list_display = ("user", "codes_left", "created_at", "last_used_at")
    search_fields = ("user__username",)
    fields = ("user", "codes_left", "created_at", "last_used_at", "throttling_failure_count")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="codes left")
    def codes_left(self, obj: RecoveryCodeDevice) -> int:
        return obj.codes.count()


@admin.register(EncryptedTOTPDevice)
class EncryptedTOTPDeviceAdmin(admin.ModelAdmin):
    """Whose authenticator app is enrolled, and when it was last used; never
    its secret, nor a QR code of it. Deleting it (with the recovery codes)
    lets someone who lost their phone set up a new one."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    search_fields = ("user__username",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    """Which account a single sign-on logs into. Adding one links an existing
    account (a local one, say) to the provider's subject, the only way a
    single sign-on reaches an account it did not create; the refresh token
    is never shown."""

    list_display = ("user", "subject", "issuer", "last_login_at", "last_checked_at")
    search_fields = ("user__username", "subject")
    fields = ("user", "issuer", "subject", "created_at", "last_login_at", "last_checked_at")
    readonly_fields = ("created_at", "last_login_at", "last_checked_at")
    raw_id_fields = ("user",)


# Group mappings and their record live in a module of their own; importing it registers them.
from portal.identity import mapping_admin  # noqa: E402, F401
