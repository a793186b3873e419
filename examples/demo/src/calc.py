"""The demo project's code: a tiny calculator."""


def add(a: int, b: int) -> int:
    return a + b


def divide(a: float, b: float) -> float:
    if b == 0:
        raise ZeroDivisionError("b must not be 0")
    return a / b


def mean(values: list[float]) -> float:
    if not values:
        return 0.0
    return sum(values) / len(values)
