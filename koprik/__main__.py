import sys

try:
    from koprik.program import run
except KeyboardInterrupt:  # a ^C in the few ms before the program takes it: said as it says it
    from koprik.stopping import interrupted

    sys.exit(interrupted())

run()
