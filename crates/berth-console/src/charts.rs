//! Line charts as inline SVG, drawn on the server: a time axis (the window's start to
//! now), a value axis from zero to a little above the largest value, and one polyline
//! per series. No script and no asset: the page carries its charts.

use maud::{html, Markup};

/// The drawing's size in SVG units, and the margins kept for the axis labels.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;
/// Horizontal grid lines (and value labels) besides zero.
const GRID_LINES: usize = 4;

/// One line of a chart: `(time in epoch milliseconds, value)` points, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// The line's colour (a CSS colour).
    pub colour: &'static str,
    /// Drawn dashed (a limit, such as what the task reserved).
    pub dashed: bool,
    pub points: Vec<(i64, f64)>,
}

/// The chart of `series` over `[from, to]` (epoch milliseconds), its values in `unit`.
pub fn line_chart(title: &str, unit: &str, series: &[Series], from: i64, to: i64) -> Markup {
    let span = (to - from).max(1) as f64;
    let top_value = nice_ceiling(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|(_, v)| *v))
            .fold(0.0, f64::max)
            * 1.1,
    );
    let x = |t: i64| LEFT + (t.clamp(from, to) - from) as f64 / span * (WIDTH - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - v / top_value) * (HEIGHT - TOP - BOTTOM);
    let window = if span >= 120_000.0 {
        format!("{} min", (span / 60_000.0).round())
    } else {
        format!("{} s", (span / 1000.0).round())
    };
    html! {
        figure.chart {
            figcaption { (title) " " span.muted { "(" (unit) ", last " (window) ")" } }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                role="img" aria-label=(title) {
                @for i in 0..=GRID_LINES {
                    @let value = top_value * i as f64 / GRID_LINES as f64;
                    line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(value)) y2=(y(value))
                        stroke="#e9ebed" {}
                    text x=(LEFT - 4.0) y=(y(value) + 4.0) text-anchor="end" font-size="11"
                        fill="#687078" { (label(value)) }
                }
                text x=(LEFT) y=(HEIGHT - 6.0) font-size="11" fill="#687078" { "-" (window) }
                text x=(WIDTH - RIGHT) y=(HEIGHT - 6.0) text-anchor="end" font-size="11"
                    fill="#687078" { "now" }
                @for s in series {
                    @let path = s.points.iter()
                        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                        .collect::<Vec<_>>()
                        .join(" ");
                    polyline.series data-series=(s.name) data-points=(s.points.len())
                        points=(path) fill="none" stroke=(s.colour) stroke-width="2"
                        stroke-dasharray=[s.dashed.then_some("5 4")] {}
                    // A lone sample shows as a dot.
                    @if s.points.len() == 1 {
                        circle cx=(x(s.points[0].0)) cy=(y(s.points[0].1)) r="3" fill=(s.colour) {}
                    }
                }
            }
            p.legend {
                @for s in series {
                    span style={ "color:" (s.colour) } { "\u{25A0} " } (s.name) " "
                }
            }
        }
    }
}

/// A round number at or above `v` (1, 2 or 5 times a power of ten), at least 1.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

/// A value label: whole numbers without decimals.
fn label(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round_and_cover_the_values() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(1.5), 2.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(563.2), 1000.0);
        assert_eq!(nice_ceiling(1100.0), 2000.0);
    }

    #[test]
    fn points_are_placed_by_time_and_value() {
        let series = [Series {
            name: "used".into(),
            colour: "#0073bb",
            dashed: false,
            points: vec![(0, 0.0), (30_000, 50.0), (60_000, 100.0)],
        }];
        let svg = line_chart("CPU", "units", &series, 0, 60_000).into_string();
        // Top value: 100 * 1.1 rounded up to 200; x runs from LEFT to WIDTH - RIGHT.
        let (x0, x1) = (LEFT, WIDTH - RIGHT);
        let (y0, y_half) = (HEIGHT - BOTTOM, TOP + 0.75 * (HEIGHT - TOP - BOTTOM));
        assert!(
            svg.contains(&format!(
                "points=\"{x0:.1},{y0:.1} {:.1},{y_half:.1} {x1:.1},{:.1}\"",
                (x0 + x1) / 2.0,
                TOP + 0.5 * (HEIGHT - TOP - BOTTOM)
            )),
            "{svg}"
        );
        assert!(svg.contains("data-points=\"3\""), "{svg}");
        assert!(
            svg.contains(">200<"),
            "the top grid line is labelled: {svg}"
        );
        assert!(svg.contains("last 60 s"), "{svg}");
        let hour = line_chart("CPU", "units", &series, 0, 3_600_000).into_string();
        assert!(hour.contains("last 60 min"), "{hour}");
    }

    #[test]
    fn series_names_are_escaped() {
        let series = [Series {
            name: "<b>x</b>".into(),
            colour: "#000",
            dashed: true,
            points: vec![(5, 1.0)],
        }];
        let svg = line_chart("<i>t</i>", "u", &series, 0, 10).into_string();
        assert!(!svg.contains("<b>") && !svg.contains("<i>"), "{svg}");
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;"), "{svg}");
        assert!(svg.contains("<circle"), "a lone sample is a dot: {svg}");
        assert!(svg.contains("stroke-dasharray=\"5 4\""), "{svg}");
    }
}
