"""The exit codes every loom-post command shares."""

OK = 0
OVER_BUDGET = 1
USAGE = 2
BAD_INPUT = 3
