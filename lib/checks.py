"""Argument checks shared by lib/: each error names the argument, the value received and what is expected."""


def choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"Unknown {name}: {value!r}. Expected one of {tuple(allowed)}.")


def positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected a positive integer.")


def rate(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected a rate in [0, 1).")
