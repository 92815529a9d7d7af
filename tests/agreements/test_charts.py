"""Server-drawn SVG: the map and the monthly bars say the figures they draw."""

from __future__ import annotations

import datetime as dt
import xml.dom.minidom

from agreements.charts import SCALE, TILE_GRID, monthly_bars, tile_map


def test_tile_map_has_a_tile_per_state_linked_and_labelled():
    svg = tile_map(
        {"TX": 118, "FL": 306, "GA": 0},
        title="Agreements <by> state",
        link=lambda s: f"/states/{s}/",
    )
    xml.dom.minidom.parseString(svg)  # noqa: S318 -- our own markup: is it well-formed?
    assert '<title id="map-title">Agreements &lt;by&gt; state</title>' in svg
    assert '<a href="/states/TX/" aria-label="TX: 118 agreements">' in svg
    assert 'href="/states/GA/"' not in svg  # nothing to see on a state without agreements
    assert "<title>GA: 0 agreements</title>" in svg
    for state in set(TILE_GRID) - {"PR", "GU", "VI"}:
        assert f">{state}</text>" in svg


def test_tile_map_shades_grow_with_the_count():
    svg = tile_map({"FL": 300, "TX": 100, "GA": 3}, title="t")

    def fill(state: str) -> str:
        tile = svg.split(f">{state}</text>")[0].rsplit("<rect", 1)[1]
        return tile.split('fill="')[1].split('"')[0]

    assert SCALE.index(fill("GA")) < SCALE.index(fill("TX")) < SCALE.index(fill("FL"))
    assert fill("OH") == SCALE[0]


def test_monthly_bars_title_every_month_with_its_counts():
    months = [dt.date(2024, 12, 1), dt.date(2025, 1, 1)]
    svg = monthly_bars(months, {"JEM": [2, 0], "TFM": [1, 40], "WSO": [0, 0]}, title="Signings")
    xml.dom.minidom.parseString(svg)  # noqa: S318 -- our own markup
    assert "<title>December 2024: JEM 2, TFM 1, WSO 0</title>" in svg
    assert "<title>January 2025: JEM 0, TFM 40, WSO 0</title>" in svg
    assert ">2025</text>" in svg  # a year label where the year starts
    assert "highest month has 40 signings" in svg
