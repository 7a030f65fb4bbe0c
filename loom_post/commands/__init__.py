"""One module per `loom-post` sub-command: `add_parser(subparsers)`, `run(args) -> int`."""
