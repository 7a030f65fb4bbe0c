"""Signed differences and percentages, shared by every report."""


def signed(n):
    return f"+{n}" if n > 0 else str(n)


def percent(new, old):
    if not old:
        return "n/a" if new else "+0.00%"
    p = 100.0 * (new - old) / old
    return f"{p:+.2f}%"
