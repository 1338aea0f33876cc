"""Charts drawn as SVG on the server: scaled, escaped, and each piece a link to its leads."""

from __future__ import annotations

from decimal import Decimal

from pingtree.console import charts


def test_stacked_columns_link_each_piece_and_escape_text() -> None:
    svg = charts.stacked_columns(
        "c",
        "Leads <per> day",
        ["03-01", "03-02"],
        [
            charts.Series("sold", "#0a0", [3, 0], ["/console/leads?a=1&b=2", None]),
            charts.Series("unsold", "#aa0", [1, 2]),
        ],
    )
    text = str(svg)
    assert text.startswith('<svg viewBox="0 0 640 240" role="img"')
    assert '<title id="c-title">Leads &lt;per&gt; day</title>' in text
    assert '<a href="/console/leads?a=1&amp;b=2" aria-label="03-01: 3 sold">' in text
    assert text.count("<rect") == 3  # nothing drawn for a zero
    assert ">4<" in text and ">1<" in text  # four round steps up to the tallest column (4)


def test_lines_handle_losses_and_money() -> None:
    svg = str(
        charts.lines(
            "m",
            "Money",
            ["a", "b"],
            [charts.Series("profit", "#070", [Decimal("-2.50"), Decimal("7.25")])],
            ["/x", "/y"],
        )
    )
    assert "<polyline" in svg and "profit -2.50" in svg and "profit 7.25" in svg
    assert ">-2.50<" in svg and ">7.50<" in svg and ">0.00<" in svg  # a gridline at zero


def test_bars_scale_to_the_longest_or_a_given_whole() -> None:
    rows = [("a", Decimal("0.5"), "50%", None), ("b", None, "–", None), ("c", 2, "200%", "/c")]
    assert [b.share for b in charts.bars(rows)] == [25.0, 0.0, 100.0]
    capped = charts.bars(rows, scale=1.0, full_is_bad=True)
    assert [b.share for b in capped] == [50.0, 0.0, 100.0] and capped[2].tone == "bad"
    assert charts.nice_top(0.0) == 1.0 and charts.nice_top(430) == 500.0
    assert charts.nice_step(110.8) == 150.0 and charts.nice_step(8.25) == 10.0
