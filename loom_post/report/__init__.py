"""Reports: what each command prints, in text for people and JSON for scripts
(every JSON document carries `"version": JSON_VERSION`; docs/json.md)."""

JSON_VERSION = 1
