"""Webhook secrets in the Standard Webhooks form (``whsec_<base64 of the key>``).

Before, the HMAC key was the whole secret string (``whsec_`` and URL-safe
characters, or a string the owner chose), which the standard's libraries
decode into other bytes and so reject every delivery. Each secret becomes
``whsec_`` + the base64 of that whole old string: the key bytes stay the
same, so the old ``X-Squadron-Signature`` still verifies in receivers written
before, and an owner can work out the new form from the secret they hold
(or replace it). A secret that cannot be decrypted (the credential key
changed) is left as it is: it could not sign anything before either.
"""

from __future__ import annotations

import base64
import binascii
import logging

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


from runbooks.crypto import DecryptionError, decrypt_json, encrypt_json

logger = logging.getLogger(__name__)

PREFIX = "whsec_"


def to_standard(apps: Apps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    subscriptions = apps.get_model("portal", "WebhookSubscription")
    for subscription in subscriptions.objects.only("pk", "secret_ciphertext").iterator():
        try:
            old = str(decrypt_json(subscription.secret_ciphertext))
        except DecryptionError:
            logger.warning("webhook %s: secret cannot be decrypted, left as it is", subscription.pk)
            continue
        new = PREFIX + base64.b64encode(old.encode()).decode()
        subscriptions.objects.filter(pk=subscription.pk).update(secret_ciphertext=encrypt_json(new))


def to_whole_string(apps: Apps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    """Back to the key as a string, where the key bytes are text (a secret
    generated after the move is random bytes: it stays as it is)."""
    subscriptions = apps.get_model("portal", "WebhookSubscription")
    for subscription in subscriptions.objects.only("pk", "secret_ciphertext").iterator():
        try:
            secret = str(decrypt_json(subscription.secret_ciphertext))
            old = base64.b64decode(secret.removeprefix(PREFIX), validate=True).decode()
        except (DecryptionError, binascii.Error, UnicodeDecodeError):
            continue
        subscriptions.objects.filter(pk=subscription.pk).update(secret_ciphertext=encrypt_json(old))


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0012_order_quota_excess"),
    ]

    operations = [
        migrations.RunPython(to_standard, to_whole_string, elidable=False),
    ]
