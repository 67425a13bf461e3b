"""Webhooks: signed HTTP POSTs to a subscriber's URL when an order changes status.

- ``webhooks_order_changed`` is called by every status transition
  (``portal.orders.transitions``), with the payload's maker; after the
  transaction commits it stores one delivery per matching subscription and
  hands each to a Celery worker on the webhooks' own queue
  (``SQUADRON_WEBHOOK_QUEUE``, routed in settings), so a receiver that
  hangs holds up only that worker, never a playbook. The
  request or run that moved the order never waits for a receiver: with no
  subscription the cost is one indexed query, and a broker that is down
  leaves deliveries pending for the sweep.
- ``webhook_deliver`` (the worker) POSTs the stored body, signed as the
  Standard Webhooks specification says (``webhook-id``,
  ``webhook-timestamp``, ``webhook-signature``; ``whsec_<base64>``
  secrets) so its libraries verify it, records the attempt (status
  code, error) for the owner, and schedules a retry with exponential backoff
  until ``SQUADRON_WEBHOOK_MAX_ATTEMPTS``.
- Receivers on private or loopback addresses are refused unless
  ``SQUADRON_WEBHOOK_ALLOW_PRIVATE`` is on, link-local ones (a cloud's
  metadata service) always (SSRF), and so is an IPv6 address that carries
  such an IPv4 address (IPv4-mapped, -compatible or -translated, NAT64,
  6to4, Teredo): the IPv4 address is where the packet ends up. The address
  is checked when the request is sent and the connection goes to that very
  address, so a DNS answer that changes between check and use cannot bypass
  the check.
- One person has at most ``SQUADRON_WEBHOOKS_PER_USER`` webhooks and sends at
  most ``SQUADRON_WEBHOOK_PINGS_PER_MINUTE`` events by hand (pings,
  redeliveries) a minute: each can hold the webhooks' worker for a timeout.

Modules: ``ssrf`` (where a webhook may point), ``subscriptions`` (create,
change, delete, caps, pings and redeliveries), ``delivery`` (signing, the
fan-out after a transition, sending, retries, the sweep) and ``selectors``.
May import the order models and ``portal.celery``; never a face.
"""
