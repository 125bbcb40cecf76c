"""Bar charts drawn as inline SVG on the server: no script, no chart library, and nothing
fetched at run time (the dashboard's content security policy allows neither)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 560
HEIGHT = 160
AXIS_HEIGHT = 18
BAR_GAP = 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str
    """The exact figure, shown on hover (SVG `<title>`)."""


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: str
    """The tallest bar's figure, printed at the top of the axis."""


def bar_chart(values: list[int], labels: list[str], titles: list[str], peak: str) -> Chart:
    plot_height = HEIGHT - AXIS_HEIGHT
    top = max(values, default=0) or 1
    slot = WIDTH / max(len(values), 1)
    bars = []
    for index, (value, label, title) in enumerate(zip(values, labels, titles, strict=True)):
        height = plot_height * value / top
        bars.append(
            Bar(
                x=round(index * slot + BAR_GAP / 2, 1),
                y=round(plot_height - height, 1),
                width=round(slot - BAR_GAP, 1),
                height=round(height, 1),
                label=label,
                title=title,
            )
        )
    return Chart(WIDTH, HEIGHT, bars, peak)
