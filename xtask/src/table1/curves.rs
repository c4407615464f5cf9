//! `curves.svg`: primary test accuracy (%) against labels, one mean line and ± s.e. band
//! per row, drawn with plotters' SVG backend. Every row has its own colour; the rows on
//! the SimCLR encoder (US SimCLR, TD-FT) are drawn dashed, those on the VAE (US VAE,
//! TD-SPLIT) solid.
//!
//! plotters is built without its font features, so text layout uses its built-in size
//! estimate and the SVG backend writes text as `<text>` elements for the viewer to render:
//! no system fonts or fontconfig are needed when the file is made.

use anyhow::{Result, anyhow};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::Row;
use super::report::Report;

/// Line colours, one per implemented row, readable for colour-blind viewers: the
/// Okabe–Ito palette, with Paul Tol's darker yellow for its yellow, which is faint on
/// white. A SimCLR row takes the lighter relative of its VAE counterpart's colour where
/// the palette has one (TD: blues, US+EPIG: oranges).
pub(super) const fn colour(row: Row) -> RGBColor {
    match row {
        Row::TdSplit => RGBColor(0, 114, 178),
        Row::UsEpig => RGBColor(213, 94, 0),
        Row::UsRandom => RGBColor(0, 158, 115),
        Row::TdSplitRandom => RGBColor(204, 121, 167),
        Row::TdFt => RGBColor(86, 180, 233),
        Row::UsSimclrEpig => RGBColor(230, 159, 0),
        Row::UsSimclrRandom => RGBColor(0, 0, 0),
        Row::TdFtRandom => RGBColor(204, 187, 68),
        // The baselines: Paul Tol's muted purples and greens, the TD variants lighter.
        Row::Similar => RGBColor(136, 34, 85),
        Row::Galaxy => RGBColor(51, 34, 136),
        Row::ClusterMargin => RGBColor(17, 119, 51),
        Row::TdSimilar => RGBColor(204, 102, 119),
        Row::TdGalaxy => RGBColor(170, 68, 153),
        Row::TdClusterMargin => RGBColor(68, 170, 153),
    }
}

/// Dash and gap lengths (pixels) of the SimCLR rows' lines.
const DASH: (u32, u32) = (8, 5);

/// One point of a curve: (labels, mean, mean − s.e., mean + s.e.).
type Point = (f64, f64, f64, f64);

/// The SVG document of the report's learning curves.
///
/// # Errors
/// plotters fails to draw (it does not for finite values).
pub fn svg(report: &Report) -> Result<String> {
    // (labels, mean, mean − s.e., mean + s.e.) per row with finished runs.
    let curves: Vec<(Row, Vec<Point>)> = report
        .rows
        .iter()
        .filter_map(|r| Some((r.row?, r.ours.as_ref()?)))
        .map(|(row, ours)| {
            let points = ours
                .curve
                .iter()
                .map(|p| {
                    #[allow(clippy::cast_precision_loss)] // label counts
                    let x = p.n_labelled as f64;
                    let se = p.accuracy.se.unwrap_or(0.0);
                    (
                        x,
                        p.accuracy.mean,
                        p.accuracy.mean - se,
                        p.accuracy.mean + se,
                    )
                })
                .collect::<Vec<_>>();
            (row, points)
        })
        .filter(|(_, points)| !points.is_empty())
        .collect();

    #[allow(clippy::cast_precision_loss)] // label counts
    let budget = report.budget as f64;
    let x_max = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(budget, f64::max);
    let y_low = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.2))
        .fold(100.0, f64::min);
    let y_min = ((y_low / 10.0).floor() * 10.0).clamp(0.0, 90.0);

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (960, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let title = format!(
            "F+MNIST, profile {}: test accuracy (primary) vs labels, mean ± s.e.",
            report.setting.describe()
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, y_min..100f64)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc("labelled points")
            .y_desc("test accuracy (%)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(draw_error)?;
        for (row, points) in &curves {
            let c = colour(*row);
            if points.len() > 1 && points.iter().any(|p| p.3 > p.2) {
                let band: Vec<(f64, f64)> = points
                    .iter()
                    .map(|p| (p.0, p.3))
                    .chain(points.iter().rev().map(|p| (p.0, p.2)))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))
                    .map_err(draw_error)?;
            }
            let line = points.iter().map(|p| (p.0, p.1));
            if row.simclr() {
                chart
                    .draw_series(DashedLineSeries::new(
                        line,
                        DASH.0,
                        DASH.1,
                        c.stroke_width(2),
                    ))
                    .map_err(draw_error)?
                    .label(row.short())
                    .legend(move |(x, y)| {
                        DashedPathElement::new(
                            vec![(x, y), (x + 24, y)],
                            DASH.0,
                            DASH.1,
                            c.stroke_width(3),
                        )
                    });
            } else {
                chart
                    .draw_series(LineSeries::new(line, c.stroke_width(2)))
                    .map_err(draw_error)?
                    .label(row.short())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
                    });
            }
        }
        if curves.is_empty() {
            root.draw(&Text::new(
                "no finished runs yet",
                (380, 300),
                ("sans-serif", 18).into_font(),
            ))
            .map_err(draw_error)?;
        } else {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(text)
}

fn draw_error<E: std::error::Error + Send + Sync>(
    e: plotters::drawing::DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow!("cannot draw curves.svg: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_its_own_colour() {
        let mut colours: Vec<(u8, u8, u8)> = Row::EVERY
            .map(|row| {
                let RGBColor(r, g, b) = colour(row);
                (r, g, b)
            })
            .to_vec();
        colours.sort_unstable();
        colours.dedup();
        assert_eq!(colours.len(), Row::EVERY.len());
        assert!(
            !colours.contains(&(255, 255, 255)),
            "no line is the background's"
        );
    }
}
