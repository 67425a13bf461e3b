"""What both faces (pages and API) share, and insights reads for its words:
keyset pagination (``pagination``), the Content-Security-Policy middleware
(``csp``), asking before an irreversible command (``confirm``), secrets shown
once (``reveal``), run-log rendering (``runlog``) and the wording of what the
domains record (``wording``: durations, failure text, status labels, SLAs,
timeline titles).

May import the domains' choices and selectors, ``runbooks`` and ``squads``;
never a face (``pages``, ``api``), so both can import it.
"""
