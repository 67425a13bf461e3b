"""Notifications: what a person should know about, shown in the portal with
an unread count and, if they want that kind by email, mailed by a task.

``models`` (Notification, NotificationPreference, app label ``portal``),
``choices`` (the kinds and their email defaults), ``services`` (notify,
settle, send, mark read, email choices), ``selectors`` (a person's list,
unread count, email choices) and ``tasks`` (the email task).

May import the order models (a notification is about an order) and
``portal.celery``; never a face (pages, api).
"""
