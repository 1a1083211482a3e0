//! Draws capacity rows (PNG, `plotters`): server CPU per status frame (its cores' busy time
//! where the run measured it, else its process's), memory per connected AGV and the command
//! round trip p99 against fleet size, one line per mode, server core count and network, each
//! panel with its target.

use std::path::Path;

use plotters::prelude::*;

use super::{CapacityError, Row};

/// Where a TrueType font for the labels is looked for (Debian's `fonts-dejavu-core` first).
const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers the first font found as `sans-serif` (once per process).
fn font() -> Result<(), CapacityError> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for path in FONTS {
                if let Ok(bytes) = std::fs::read(path) {
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                        .map_err(|_| format!("{path} is not a usable font"));
                }
            }
            Err(format!(
                "no TrueType font for the labels (looked for {}; apt-get install fonts-dejavu-core)",
                FONTS.join(", ")
            ))
        })
        .clone()
        .map_err(CapacityError::Plot)
}

/// One panel: what it shows, its unit, the target line.
struct Panel {
    title: &'static str,
    unit: &'static str,
    /// A logarithmic y axis (the guide profile costs ten times the others per frame).
    log: bool,
    /// Whether rows of a saturated server are drawn (their CPU per frame is a figure; their
    /// memory and round trips are queues).
    saturated_too: bool,
    value: fn(&Row) -> f64,
    targets: &'static [(f64, &'static str)],
}

const PANELS: [Panel; 3] = [
    Panel {
        title: "server CPU per status frame",
        unit: "µs (log scale)",
        log: true,
        saturated_too: true,
        // the server's cores' busy time where it was measured (the kernel's share for its
        // frames included), else its process's
        value: |r| {
            if r.cpu_all_us_per_frame > 0.0 {
                r.cpu_all_us_per_frame
            } else {
                r.cpu_us_per_frame
            }
        },
        targets: &[(10.0, "target 10 µs (10,000 AGVs per core)")],
    },
    Panel {
        title: "server memory per connected AGV",
        unit: "KiB",
        log: false,
        saturated_too: false,
        value: |r| r.rss_per_agv_kib,
        targets: &[(16.0, "target 16 KiB"), (40.0, "guide: 40 KiB")],
    },
    Panel {
        title: "command round trip p99",
        unit: "ms (log scale)",
        log: true,
        saturated_too: false,
        value: |r| r.command_p99_ms,
        targets: &[(20.0, "target 20 ms")],
    },
];

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

/// Draws the rows into a PNG of three panels. Rows the server did not carry (`saturated`,
/// `not-online`) are left out of the lines; `saturated` rows still show their CPU per frame.
pub fn draw(rows: &[Row], png: &Path) -> Result<(), CapacityError> {
    font()?;
    let plot = |e: &dyn std::fmt::Display| CapacityError::Plot(e.to_string());
    let root = BitMapBackend::new(png, (1500, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot(&e))?;
    let mut series: Vec<(String, Vec<&Row>)> = Vec::new();
    for r in rows.iter().filter(|r| r.verdict != "not-online") {
        let name = format!(
            "{}, {} server core{}{}",
            r.mode,
            r.server_cores,
            if r.server_cores == 1 { "" } else { "s" },
            if r.network == "loopback" {
                String::new()
            } else {
                format!(", {}", r.network)
            }
        );
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(r),
            None => series.push((name, vec![r])),
        }
    }
    let max_agvs = rows.iter().map(|r| r.agvs).max().unwrap_or(1) as f64;
    for (area, panel) in root.split_evenly((1, 3)).iter().zip(&PANELS) {
        let shown = |r: &&Row| r.verdict != "saturated" || panel.saturated_too;
        let values: Vec<f64> = rows
            .iter()
            .filter(|r| r.verdict != "not-online")
            .filter(shown)
            .map(panel.value)
            .chain(panel.targets.iter().map(|t| t.0))
            .collect();
        let top = values.iter().copied().fold(1.0_f64, f64::max) * 1.3;
        let x = 0.0..max_agvs * 1.05;
        let builder = || {
            let mut b = ChartBuilder::on(area);
            b.caption(panel.title, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(55);
            b
        };
        if panel.log {
            let bottom = values
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(f64::MAX, f64::min)
                .min(1.0)
                * 0.7;
            let chart = builder()
                .build_cartesian_2d(x, (bottom..top).log_scale())
                .map_err(|e| plot(&e))?;
            lines(chart, panel, &series, max_agvs, &shown)?;
        } else {
            let chart = builder()
                .build_cartesian_2d(x, 0.0..top)
                .map_err(|e| plot(&e))?;
            lines(chart, panel, &series, max_agvs, &shown)?;
        }
    }
    root.present().map_err(|e| plot(&e))?;
    Ok(())
}

/// Draws a panel's mesh, targets and series into its chart.
fn lines<'a, Y>(
    mut chart: ChartContext<
        'a,
        BitMapBackend<'a>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    panel: &Panel,
    series: &[(String, Vec<&Row>)],
    max_agvs: f64,
    shown: &dyn Fn(&&Row) -> bool,
) -> Result<(), CapacityError>
where
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let plot = |e: &dyn std::fmt::Display| CapacityError::Plot(e.to_string());
    chart
        .configure_mesh()
        .x_desc("connected AGVs (status at 10 Hz)")
        .y_desc(panel.unit)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(|e| plot(&e))?;
    for (value, label) in panel.targets {
        chart
            .draw_series(LineSeries::new(
                [(0.0, *value), (max_agvs * 1.05, *value)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(|e| plot(&e))?
            .label(*label)
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.5)));
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|r| shown(r))
            .map(|r| (r.agvs as f64, (panel.value)(r)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(|e| plot(&e))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
            .map_err(|e| plot(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| plot(&e))?;
    Ok(())
}
