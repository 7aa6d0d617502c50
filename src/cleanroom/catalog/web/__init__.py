"""The admin pages: a small tornado service over the catalog, run by the hub.

JupyterHub starts it as the managed service ``catalog`` (``python -m cleanroom.catalog.web``) and
its proxy serves it at ``/services/catalog/``, behind nginx. People sign in through the hub (OAuth,
a cookie of the service's own); every page and every form checks that the signed-in user's token
carries ``custom:cleanroom:administer`` (members of the ``admin`` group), and answers 403 otherwise.
Forms carry an XSRF token; pages are Jinja2 templates with autoescape, served with a strict
Content-Security-Policy and no scripts at all.

Every change goes through :class:`cleanroom.catalog.service.CatalogService`, the same service
the ``cleanroom`` commands use, which validates it and records it in the audit log. Heavy work
(hashing and reading a source file, materialising a grant's data) runs in a thread as a job
whose page shows its progress; nothing heavy runs on the tornado loop.

=====================  =================================================================
module                 what
=====================  =================================================================
``app``                the application, its settings and ``main`` (``python -m``)
``base``               the base handler: sign-in, the ``needs_admin`` check, headers, pages
``forms``              pure parsing of form input (mapping lines, dates, import paths)
``jobs``               background jobs with progress, and the job page
``organisations``      organisations and users' organisations
``datasets``           datasets, versions, registering
``projects``           projects, members, grants
``display``            bytes each researcher's browser received per day (the display channel)
=====================  =================================================================
"""
