"""Integrations: what lets programs work with the portal.

``models`` (ApiToken, WebhookSubscription, WebhookDelivery; app label
``portal``), ``tokens`` (create, authenticate, revoke API tokens),
``webhooks/`` (subscriptions, the SSRF guard, delivery, selectors) and
``tasks`` (delivering and sweeping webhook deliveries).

May import the order models, ``squads``, ``runbooks.crypto`` and
``portal.celery``; never a face (pages, api).
"""
