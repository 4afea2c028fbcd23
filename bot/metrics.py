"""Counters and gauges exposed in the Prometheus text format (no personal data, no labels with ids)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.gauges: dict[str, Callable[[], Awaitable[float]]] = {}
        self.help: dict[str, str] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += amount

    def gauge(self, name: str, help_text: str, read: Callable[[], Awaitable[float]]) -> None:
        self.gauges[name] = read
        self.help[name] = help_text

    async def render(self) -> str:
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in sorted(self.counters.items()):
            if name not in seen:
                lines.append(f"# TYPE {name} counter")
                seen.add(name)
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
        for name, read in sorted(self.gauges.items()):
            lines.append(f"# HELP {name} {self.help[name]}")
            lines.append(f"# TYPE {name} gauge")
            try:
                lines.append(f"{name} {await read():g}")
            except Exception:  # noqa: BLE001 - a failing gauge must not hide the others
                lines.append(f"{name} NaN")
        return "\n".join(lines) + "\n"
