"""Alembic revisions of the catalogue schema (forward only; ``koprik backup`` is the way back).

Koprik configures Alembic in code (:mod:`catalog.schema`); there is no ``alembic.ini``.
``env.py`` runs the revisions on the connection :mod:`catalog.schema` hands it, and
``versions/`` holds one file per revision, numbered ``0001``, ``0002``... To change the schema,
change the tables (``catalog/models.py`` and the modules beside it), then write the revision
with ``koprik db revision "what changed"`` (README.md, "Upgrading"), review it, and commit both.
"""
