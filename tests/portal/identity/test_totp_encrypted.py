"""The authenticator app's secret is encrypted at rest: the database holds
no clear seed, enrolment and login still go through django-otp, and the
migration moves existing django-otp devices and leaves none in clear."""

from __future__ import annotations

import binascii

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.audit.models import AuditEntry
from portal.identity.models import EncryptedTOTPDevice
from portal.identity.services import two_step_verify
from runbooks.crypto import decrypt_json
from tests.portal.identity.conftest import PASSWORD, app_code, post_login


def stored_columns() -> str:
    """Every column of every device row, as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {EncryptedTOTPDevice._meta.db_table}")  # noqa: S608 - our own table name
        return repr(cursor.fetchall())


@pytest.mark.django_db
def test_the_database_holds_no_clear_seed_and_the_code_still_logs_in(requester: User, enrol) -> None:  # type: ignore[no-untyped-def]
    _, key = enrol(requester)

    raw = stored_columns()
    seed = binascii.unhexlify(key)
    assert key not in raw and key.upper() not in raw and seed.hex() not in raw
    assert not TOTPDevice.objects.exists()
    device = EncryptedTOTPDevice.objects.get(user=requester)
    assert decrypt_json(device.key_ciphertext) == key and device.key == key
    # django-otp checks the code, through the decrypted secret.
    client = Client()
    assert post_login(client, requester.username, PASSWORD)["Location"].startswith("/login/code/")
    response = client.post("/login/code/", {"code": app_code(key, steps_ahead=1)})
    assert response.status_code == 302 and client.get("/orders/").status_code == 200
    # The same code never logs in twice (django-otp's replay guard).
    with pytest.raises(Exception, match="not right"):
        two_step_verify(user=requester, code=app_code(key, steps_ahead=1))


@pytest.mark.django_db
def test_turning_two_step_on_is_audited_without_the_secret(requester: User, enrol) -> None:  # type: ignore[no-untyped-def]
    _, key = enrol(requester)
    entry = AuditEntry.objects.get(object_type="identity.encryptedtotpdevice", action="created")
    assert entry.changes["key_ciphertext"] == {"before": None, "after": "secret set"}
    assert key not in str(list(AuditEntry.objects.values_list("changes", flat=True)))


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_devices_and_leaves_no_clear_seed() -> None:
    executor = MigrationExecutor(connection)
    before, after = [("identity", "0003_oidc_identity")], [("identity", "0004_encrypted_totp")]
    executor.migrate(before)
    old_apps = executor.loader.project_state([*before, ("otp_totp", "0003_add_timestamps")]).apps
    user = old_apps.get_model("auth", "User").objects.create(username="vera")
    key = "3132333435363738393031323334353637383930"
    old_apps.get_model("otp_totp", "TOTPDevice").objects.create(
        user_id=user.pk, name="Authenticator app", key=key, confirmed=True, last_t=42, drift=1
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)

    assert not TOTPDevice.objects.exists()
    device = EncryptedTOTPDevice.objects.get(user_id=user.pk)
    assert (device.key, device.name, device.confirmed, device.last_t, device.drift) == (
        key,
        "Authenticator app",
        True,
        42,
        1,
    )
    assert key not in stored_columns()
