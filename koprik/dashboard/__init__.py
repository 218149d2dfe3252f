"""The operators' and catalogers' web dashboard, served by ``koprik serve`` at ``/``.

It shows both sides of the wire (harvest sources and runs, the records served), so it lives in
the application layer: it may import harvester, provider and catalog, never the reverse.

>>> app = init_app(settings, catalog)       # provider: OAI-PMH...
>>> setup_dashboard(app)                    # koprik.dashboard.app: pages, /api, /metrics

Pages are Jinja2 templates with one CSS file and a few lines of JavaScript (nothing is built
or downloaded). Who may do what: :mod:`koprik.dashboard.access`.

The package imports none of its modules: ``koprik users`` needs only
:mod:`koprik.dashboard.accounts`, and importing the whole dashboard with it (aiohttp, Jinja2,
the copy-cataloguing clients) cost the command 0.4 s of CPU a run (1.3 s against 0.9 s).
"""
