"""The command line of each ``koprik`` command, one module each, named as the module under
:mod:`koprik.commands` that does the command's work.

A module here exposes ``register(subparsers)``, which adds the command's parser (its arguments
and help) and sets ``handler`` to the name of the function of its :mod:`koprik.commands` module
that runs it (taking the parsed arguments, returning an exit status). A command that stores
many records with worker processes sets ``starts_workers`` too, a function of the parsed
arguments: when it says so, the workers' fork server is started before the command's module
loads, to preload on another core meanwhile (:func:`config.runtime.start_fork_server`).

These modules import only what their arguments need: every command line is built for each run
of ``koprik``, its ``--help`` or ``--version`` among them, and only the command that runs
imports its work (the catalogue, aiohttp, the dashboard...).
"""
