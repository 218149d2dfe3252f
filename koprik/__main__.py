import sys

try:
    from koprik.cli import run
except KeyboardInterrupt:  # a ^C as the program starts: said as koprik.cli.run says it
    print("koprik: interrupted", file=sys.stderr)
    sys.exit(130)

run()
