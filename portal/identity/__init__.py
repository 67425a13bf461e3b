"""Identity: who may log in and how.

Throttled logins (django-axes counts failures per account and per client
address, ``throttling``), the two-step login with a TOTP app and recovery
codes (django-otp, ``services`` and ``selectors``), and what a login keeps in
the session between its steps (``session``), single sign-on with OpenID
Connect (``oidc_config`` the settings and the provider's discovery, ``oidc``
the protocol, ``oidc_accounts`` the accounts it logs into), LDAP logins
(``ldap``), and the group mappings that grant memberships at each login
through an identity provider (``mapping``, the ``groups_seen`` signal of
``signals``).

A domain: it knows nothing of the pages that show it.
"""
