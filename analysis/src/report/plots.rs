//! PNG plots with plotters: forest plot, line charts, grouped bars and
//! attention heatmaps. Text is drawn with the DejaVu Sans font compiled into
//! the binary (analysis/assets), so plots render the same on machines
//! without fonts.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic, FontStyle::Oblique].iter().all(|style| {
            ["sans-serif", "serif", "monospace"].iter().all(|family| register_font(family, *style, FONT).is_ok())
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Plot { plot: "fonts".into(), message: "the embedded font could not be loaded".into() })
    }
}

fn plot_err<E: std::fmt::Debug>(plot: &Path) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Plot { plot: plot.display().to_string(), message: format!("{e:?}") }
}

/// One row of a forest plot.
#[derive(Debug, Clone)]
pub struct ForestRow {
    pub label: String,
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// Estimates with their intervals, one per row, and a line at zero.
pub fn forest(path: &Path, title: &str, x_label: &str, rows: &[ForestRow]) -> Result<()> {
    ensure_font()?;
    let err = plot_err(path);
    let height = 120 + 34 * rows.len().max(1) as u32;
    let root = BitMapBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let finite = |v: f64| v.is_finite();
    let mut lo = rows.iter().flat_map(|r| [r.low, r.estimate]).filter(|v| finite(*v)).fold(0.0f64, f64::min);
    let mut hi = rows.iter().flat_map(|r| [r.high, r.estimate]).filter(|v| finite(*v)).fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.5);
    lo -= pad;
    hi += pad;
    let n = rows.len().max(1) as f64;
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(10) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size((longest * 8 + 20).min(520))
        .build_cartesian_2d(lo..hi, -0.5..(n - 0.5))
        .map_err(&err)?;
    let count = rows.len();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(count.max(1))
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < count {
                labels[count - 1 - i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_desc(x_label)
        .label_style((FAMILY, 14))
        .draw()
        .map_err(&err)?;
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(0.0, -0.5), (0.0, n - 0.5)], BLACK.mix(0.5))))
        .map_err(&err)?;
    for (i, r) in rows.iter().enumerate() {
        let y = (count - 1 - i) as f64;
        if r.low.is_finite() && r.high.is_finite() {
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(r.low, y), (r.high, y)], BLUE.stroke_width(2))))
                .map_err(&err)?;
            for x in [r.low, r.high] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, y - 0.15), (x, y + 0.15)],
                        BLUE.stroke_width(2),
                    )))
                    .map_err(&err)?;
            }
        }
        if r.estimate.is_finite() {
            chart.draw_series(std::iter::once(Circle::new((r.estimate, y), 5, BLUE.filled()))).map_err(&err)?;
        }
    }
    root.present().map_err(&err)?;
    Ok(())
}

/// A named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// What the x axis of a line chart counts, and so how its ticks read.
#[derive(Debug, Clone, Copy)]
pub enum XTicks<'a> {
    /// Integer positions named by these labels (e.g. length bins).
    Named(&'a [String]),
    /// Whole numbers only (epochs): no tick between two of them.
    Integers,
}

/// The text of the tick at `x`. Tick positions are sums of float steps
/// (2.5999999999999996 for 2.6), so they are rounded before being shown;
/// a fractional tick on an integer axis gets no label.
pub fn tick_label(x: f64, ticks: XTicks<'_>) -> String {
    let i = x.round();
    let on_integer = (x - i).abs() < 1e-6;
    match ticks {
        XTicks::Named(t) if on_integer && i >= 0.0 && (i as usize) < t.len() => t[i as usize].clone(),
        XTicks::Integers if on_integer => format!("{}", i as i64),
        _ => String::new(),
    }
}

/// Line chart of `series` over an x axis read as `x_ticks` says.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    x_ticks: XTicks<'_>,
) -> Result<()> {
    ensure_font()?;
    let err = plot_err(path);
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let all: Vec<(f64, f64)> =
        series.iter().flat_map(|s| s.points.iter().copied()).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let (x0, x1) = bounds(all.iter().map(|p| p.0), 0.0);
    let (y0, y1) = bounds(all.iter().map(|p| p.1), 0.05);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(&err)?;
    let formatter = move |x: &f64| tick_label(*x, x_ticks);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_label).y_desc(y_label).label_style((FAMILY, 14)).x_label_formatter(&formatter);
    match x_ticks {
        XTicks::Named(t) => {
            mesh.x_labels(t.len());
        }
        // At most one tick per whole number, so that plotters' steps fall
        // on them rather than between (up to 12 on a long run).
        XTicks::Integers => {
            mesh.x_labels(((x1 - x0).round() as usize + 1).clamp(2, 12));
        }
    }
    mesh.draw().map_err(&err)?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(&err)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(&err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FAMILY, 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(&err)?;
    root.present().map_err(&err)?;
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64>, pad_frac: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * pad_frac;
    (lo - pad, hi + pad)
}

/// Grouped bars: one group per category, one bar per series.
pub fn grouped_bars(path: &Path, title: &str, y_label: &str, categories: &[String], series: &[Series]) -> Result<()> {
    ensure_font()?;
    let err = plot_err(path);
    let root = BitMapBackend::new(path, (1100, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let top = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let k = categories.len().max(1) as f64;
    let cats = categories.to_vec();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..(k - 0.5), 0.0..top)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(categories.len().max(1))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cats.len() {
                cats[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .label_style((FAMILY, 12))
        .draw()
        .map_err(&err)?;
    let m = series.len().max(1) as f64;
    let width = 0.8 / m;
    for (j, s) in series.iter().enumerate() {
        let color = Palette99::pick(j).to_rgba();
        let bars: Vec<Rectangle<(f64, f64)>> = s
            .points
            .iter()
            .filter(|(_, y)| y.is_finite())
            .map(|&(x, y)| {
                let left = x - 0.4 + j as f64 * width;
                Rectangle::new([(left, 0.0), (left + width * 0.95, y)], color.filled())
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(&err)?
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FAMILY, 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(&err)?;
    root.present().map_err(&err)?;
    Ok(())
}

/// Attention weights (`weights` row-major, target x source) as a heatmap
/// with the tokens along the axes.
pub fn heatmap(path: &Path, title: &str, source: &[String], target: &[String], weights: &[f64]) -> Result<()> {
    ensure_font()?;
    let err = plot_err(path);
    let (s, t) = (source.len(), target.len());
    if s == 0 || t == 0 || weights.len() != s * t {
        return Err(Error::Plot {
            plot: path.display().to_string(),
            message: format!("{} weights for {t} target x {s} source tokens", weights.len()),
        });
    }
    let cell = 46u32;
    let label_w = 20 + 9 * target.iter().map(|x| x.chars().count()).max().unwrap_or(4) as u32;
    let width = (label_w + cell * s as u32 + 40).max(420);
    let height = 120 + cell * t as u32;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let max = weights.iter().copied().filter(|w| w.is_finite()).fold(0.0f64, f64::max).max(1e-12);
    let (src, tgt) = (source.to_vec(), target.to_vec());
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(label_w)
        .build_cartesian_2d(0.0..s as f64, 0.0..t as f64)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(s * 2 + 1)
        .y_labels(t * 2 + 1)
        .x_label_formatter(&|x| half_index(*x, &src))
        .y_label_formatter(&|y| half_index(t as f64 - *y, &tgt))
        .label_style((FAMILY, 13))
        .draw()
        .map_err(&err)?;
    let mut cells = Vec::with_capacity(s * t);
    for row in 0..t {
        for colm in 0..s {
            let w = weights[row * s + colm];
            let v = if w.is_finite() { (w / max).clamp(0.0, 1.0) } else { 0.0 };
            // White to dark blue.
            let color = RGBColor((255.0 * (1.0 - v)) as u8, (255.0 * (1.0 - 0.75 * v)) as u8, (255.0 - 90.0 * v) as u8);
            let y = (t - 1 - row) as f64;
            cells.push(Rectangle::new([(colm as f64, y), (colm as f64 + 1.0, y + 1.0)], color.filled()));
        }
    }
    chart.draw_series(cells).map_err(&err)?;
    root.present().map_err(&err)?;
    Ok(())
}

/// Labels sit at cell centres (k + 0.5); other tick positions stay blank.
fn half_index(v: f64, labels: &[String]) -> String {
    let k = v - 0.5;
    let i = k.round();
    if (k - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
        labels[i as usize].clone()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_ticks_are_whole_numbers_or_nothing() {
        assert_eq!(tick_label(2.5999999999999996, XTicks::Integers), "");
        assert_eq!(tick_label(3.0000000000000004, XTicks::Integers), "3");
        assert_eq!(tick_label(2.9999999999999996, XTicks::Integers), "3");
        assert_eq!(tick_label(0.0, XTicks::Integers), "0");
    }

    #[test]
    fn named_ticks_label_their_integer_positions_only() {
        let names = ["0-9".to_string(), "10-19".to_string()];
        assert_eq!(tick_label(1.0000000000000002, XTicks::Named(&names)), "10-19");
        assert_eq!(tick_label(0.5, XTicks::Named(&names)), "");
        assert_eq!(tick_label(2.0, XTicks::Named(&names)), "");
    }
}
