from django.dispatch import Signal

# Sent after a successful SSO/LDAP login: sender is the source ("oidc" or "ldap"),
# kwargs user and groups (list[str]).
groups_seen = Signal()
