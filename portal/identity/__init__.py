"""Identity: who may log in and how.

Throttled logins (django-axes counts failures per account and per client
address, ``throttling``), the two-step login with a TOTP app and recovery
codes (django-otp, ``services`` and ``selectors``), and what a login keeps in
the session between its steps (``session``). SSO and LDAP group mapping
belong here too when they come.

A domain: it knows nothing of the pages that show it.
"""
