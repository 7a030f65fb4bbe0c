"""The exit codes every loom-post command shares."""

OK = 0
OVER_BUDGET = 1
USAGE = 2
BAD_INPUT = 3
INTERNAL = 70   # a bug in loom-post (sysexits' EX_SOFTWARE); never 1, which means over budget
