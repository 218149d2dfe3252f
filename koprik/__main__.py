import sys

from koprik.cli import main

sys.exit(main())
