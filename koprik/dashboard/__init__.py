"""The operators' and catalogers' web dashboard, served by ``koprik serve`` at ``/``.

It shows both sides of the wire (harvest sources and runs, the records served), so it lives in
the application layer: it may import harvester, provider and catalog, never the reverse.

>>> app = init_app(settings, catalog)       # provider: OAI-PMH...
>>> setup_dashboard(app)                    # pages, /api, /metrics on the same application

Pages are Jinja2 templates with one CSS file and a few lines of JavaScript (nothing is built
or downloaded). Who may do what: :mod:`koprik.dashboard.access`.
"""

from koprik.dashboard.app import setup_dashboard

__all__ = ["setup_dashboard"]
