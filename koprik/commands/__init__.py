"""Subcommands of ``koprik``: one module each, found by :func:`koprik.cli.build_parser`."""
