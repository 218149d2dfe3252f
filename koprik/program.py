"""The ``koprik`` program as it starts: the stop signals taken first, then the command line.

Loading the command line (:mod:`koprik.cli`: the settings, the parsers, logging) takes ~0.2 s,
longer on a loaded machine. A ^C meanwhile, under Python's own handler, was lost when its
KeyboardInterrupt was raised inside a callback (an import's module lock's, as a CI run saw):
Python printed "Exception ignored in" and a traceback and dropped it, and ``koprik serve`` went
on serving. Taken first (:func:`koprik.stopping.take_stop_signals`, whose module loads nothing
of Koprik's), such a ^C is raised again and said in the one line of any other.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from koprik.stopping import interrupted, stop_replaced, take_stop_signals


def run() -> NoReturn:
    """The ``koprik`` program: :func:`koprik.cli.main` in a process of its own, its collector
    tuned. A ^C while the command's modules load, before :func:`~koprik.cli.main` handles one,
    is said as one (a traceback of the import it stopped was printed), and so is one while the
    collector goes through what the program loaded first (a ^C 0.05 to 0.4 s after ``koprik
    serve`` started printed the traceback of its ``gc.collect()`` and ended by SIGINT in 5 of
    108 tries), and so is an error Python raised in place of a ^C's KeyboardInterrupt
    (:func:`koprik.stopping.stop_replaced`)."""
    take_stop_signals()
    try:
        from config.runtime import tune_collector
        from koprik.cli import main

        tune_collector()
        status = main()
    except KeyboardInterrupt as stop:
        status = interrupted(stop)
    except Exception as error:  # in place of a ^C's KeyboardInterrupt, if one was raised before
        replaced = stop_replaced(error)
        if replaced is None:
            raise
        status = interrupted(replaced)
    sys.exit(status)
