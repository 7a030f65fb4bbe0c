"""Human-readable byte counts and signed differences, shared by every report."""


def human(n):
    """1234567 -> '1.18 MiB'; small numbers stay exact."""
    n = int(n)
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1024:
        return f"{sign}{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024.0
        if n < 1024 or unit == "GiB":
            return f"{sign}{n:.2f} {unit}"


def signed(n):
    return f"+{n}" if n > 0 else str(n)


def percent(new, old):
    if not old:
        return "n/a" if new else "+0.00%"
    p = 100.0 * (new - old) / old
    return f"{p:+.2f}%"
