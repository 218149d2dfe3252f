"""What each ``koprik`` command does, one module each, imported only when its command runs; its
command line: the module of the same name under :mod:`koprik.parsers`."""
