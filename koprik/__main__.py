from koprik.cli import run

run()
