import sys

try:
    from koprik.cli import run
except KeyboardInterrupt:  # a ^C as the program starts: said as koprik.cli.run says it
    from koprik.stopping import interrupted

    sys.exit(interrupted())

run()
