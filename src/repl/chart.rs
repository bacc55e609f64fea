//! `.chart`: the last result as a chart, in the terminal or as SVG (through plotters).
//!
//! The first column gives the labels, the numeric columns after it the values. When the labels are
//! periods (`2020H1`, `2023`) the chart is a line chart over time, one line per numeric column
//! (a gemeente against its VT-regio, say); otherwise a bar chart of the first numeric column.
//! NULL (a suppressed cell) is a gap, never 0.

use std::path::Path;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use plotters::prelude::*;
use vtsql_udfs::period::Period;

use super::print_format::SUPPRESSED;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bar,
    Line,
}

/// A chart of one result.
#[derive(Debug)]
pub struct Chart {
    pub kind: Kind,
    pub x_name: String,
    pub labels: Vec<String>,
    /// (column name, one value per label)
    pub series: Vec<(String, Vec<Option<f64>>)>,
}

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];
const SYMBOLS: [char; 4] = ['●', '○', '◆', '▲'];

impl Chart {
    /// Reads a result: a label column, then at least one numeric column.
    pub fn from_result(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Chart, String> {
        if schema.fields().len() < 2 {
            return Err("a chart needs a label column and at least one numeric column".into());
        }
        let numeric: Vec<usize> =
            (1..schema.fields().len()).filter(|&i| schema.field(i).data_type().is_numeric()).collect();
        if numeric.is_empty() {
            return Err("no numeric column after the first (label) column to chart".into());
        }
        let options = FormatOptions::default().with_null(SUPPRESSED);
        let mut labels = Vec::new();
        let mut series: Vec<(String, Vec<Option<f64>>)> =
            numeric.iter().map(|&i| (schema.field(i).name().clone(), Vec::new())).collect();
        for batch in batches {
            let formatter = ArrayFormatter::try_new(batch.column(0).as_ref(), &options).map_err(|e| e.to_string())?;
            labels.extend((0..batch.num_rows()).map(|r| formatter.value(r).to_string()));
            for (s, &i) in series.iter_mut().zip(&numeric) {
                let values = cast(batch.column(i), &DataType::Float64).map_err(|e| e.to_string())?;
                s.1.extend(values.as_primitive::<Float64Type>().iter());
            }
        }
        if labels.is_empty() {
            return Err("the last result has no rows".into());
        }
        // infinity and NaN (`x / 0.0`) have no place on an axis, and a range wider than a double holds none either:
        // plotters would loop for ever looking for the ticks of either
        let mut unplottable = 0;
        for (_, values) in &mut series {
            for v in values.iter_mut() {
                if v.is_some_and(|v| !v.is_finite()) {
                    *v = None;
                    unplottable += 1;
                }
            }
        }
        let finite = series.iter().flat_map(|s| s.1.iter().flatten());
        let (low, high) = finite.fold((0.0_f64, 0.0_f64), |(l, h), v| (l.min(*v), h.max(*v)));
        if !(high - low).is_finite() || (high - low) * 1.1 > f64::MAX / 4.0 {
            return Err(format!("the values range from {low:e} to {high:e}: more than a chart can show"));
        }
        if unplottable > 0 && series.iter().all(|s| s.1.iter().all(Option::is_none)) {
            return Err(format!("no value to chart: {unplottable} are infinite or not a number"));
        }
        let over_time = labels.iter().all(|l| Period::parse(l).is_some());
        let kind = if over_time { Kind::Line } else { Kind::Bar };
        if kind == Kind::Bar {
            series.truncate(1);
        }
        Ok(Chart { kind, x_name: schema.field(0).name().clone(), labels, series })
    }

    fn max(&self) -> f64 {
        self.series.iter().flat_map(|s| s.1.iter().flatten()).fold(0.0_f64, |m, v| m.max(*v))
    }

    fn min(&self) -> f64 {
        self.series.iter().flat_map(|s| s.1.iter().flatten()).fold(0.0_f64, |m, v| m.min(*v))
    }

    /// The chart drawn with text, at most `width` columns wide.
    pub fn render_text(&self, width: usize) -> String {
        match self.kind {
            Kind::Bar => self.bars_text(width),
            Kind::Line => self.lines_text(width),
        }
    }

    fn bars_text(&self, width: usize) -> String {
        let label_width = self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).min(30);
        let room = width.saturating_sub(label_width + 14).max(10);
        let max = self.max();
        let (name, values) = &self.series[0];
        let mut out = format!("{name} by {}\n", self.x_name);
        for (label, value) in self.labels.iter().zip(values) {
            let label: String = label.chars().take(label_width).collect();
            let (bar, text) = match value {
                Some(v) if max > 0.0 => ("█".repeat(((v / max) * room as f64).round().max(0.0) as usize), fmt(*v)),
                Some(v) => (String::new(), fmt(*v)),
                None => (String::new(), SUPPRESSED.to_string()),
            };
            out.push_str(&format!("{label:>label_width$} │{bar} {text}\n"));
        }
        out
    }

    fn lines_text(&self, width: usize) -> String {
        const HEIGHT: usize = 12;
        let n = self.labels.len();
        let step = ((width.saturating_sub(12)) / n.max(1)).clamp(1, 8);
        let (min, max) = (self.min(), self.max());
        let span = if max > min { max - min } else { 1.0 };
        let mut grid = vec![vec![' '; n * step]; HEIGHT];
        for (s, (_, values)) in self.series.iter().enumerate() {
            for (i, v) in values.iter().enumerate() {
                if let Some(v) = v {
                    let row = HEIGHT - 1 - (((v - min) / span) * (HEIGHT - 1) as f64).round() as usize;
                    grid[row][i * step] = SYMBOLS[s % SYMBOLS.len()];
                }
            }
        }
        let mut out = String::new();
        for (r, row) in grid.iter().enumerate() {
            let axis = match r {
                0 => fmt(max),
                r if r == HEIGHT - 1 => fmt(min),
                _ => String::new(),
            };
            out.push_str(&format!("{axis:>10} ┤{}\n", row.iter().collect::<String>().trim_end()));
        }
        out.push_str(&format!("{:>10} └{}\n", "", "─".repeat(n * step)));
        let last = self.labels.last().map(String::as_str).unwrap_or("");
        let gap = (n * step).saturating_sub(self.labels[0].len() + last.len()).max(1);
        out.push_str(&format!("{:>12}{}{}{last}\n", "", self.labels[0], " ".repeat(gap)));
        for (s, (name, _)) in self.series.iter().enumerate() {
            out.push_str(&format!("{:>12}{} {name}\n", "", SYMBOLS[s % SYMBOLS.len()]));
        }
        out
    }

    /// Writes the chart as an SVG file: one bar or one point per row and series.
    pub fn write_svg(&self, path: &Path) -> Result<(), String> {
        self.draw_svg(path).map_err(|e| format!("cannot draw {}: {e}", path.display()))
    }

    fn draw_svg(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = self.labels.len();
        let (min, max) = (self.min(), self.max());
        let top = if max > min { max + (max - min) * 0.05 } else { min + 1.0 };
        let labels = self.labels.clone();
        let caption =
            format!("{} by {}", self.series.iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(", "), self.x_name);
        match self.kind {
            Kind::Bar => {
                let mut chart = ChartBuilder::on(&root)
                    .caption(caption, ("sans-serif", 22))
                    .margin(16)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d((0..n).into_segmented(), min.min(0.0)..top)?;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(n.min(40))
                    .x_label_formatter(&|v| match v {
                        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                            labels.get(*i).cloned().unwrap_or_default()
                        }
                        SegmentValue::Last => String::new(),
                    })
                    .draw()?;
                let values = &self.series[0].1;
                chart.draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                    v.map(|v| {
                        let mut bar = Rectangle::new(
                            [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), v)],
                            COLORS[0].filled(),
                        );
                        bar.set_margin(0, 0, 6, 6);
                        bar
                    })
                }))?;
            }
            Kind::Line => {
                let mut chart = ChartBuilder::on(&root)
                    .caption(caption, ("sans-serif", 22))
                    .margin(16)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d(0usize..n.saturating_sub(1).max(1), min.min(0.0)..top)?;
                chart
                    .configure_mesh()
                    .x_labels(n.min(20))
                    .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
                    .draw()?;
                for (s, (name, values)) in self.series.iter().enumerate() {
                    let color = COLORS[s % COLORS.len()];
                    // A suppressed value breaks the line rather than pulling it to 0.
                    let mut run: Vec<(usize, f64)> = Vec::new();
                    for (i, v) in values.iter().enumerate() {
                        match v {
                            Some(v) => run.push((i, *v)),
                            None => {
                                chart.draw_series(LineSeries::new(std::mem::take(&mut run), color.stroke_width(2)))?;
                            }
                        }
                    }
                    chart.draw_series(LineSeries::new(run, color.stroke_width(2)))?;
                    chart
                        .draw_series(
                            values
                                .iter()
                                .enumerate()
                                .filter_map(|(i, v)| v.map(|v| Circle::new((i, v), 4, color.filled()))),
                        )?
                        .label(name.clone())
                        .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
                }
                chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
            }
        }
        root.present()?;
        Ok(())
    }
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (second probe, item 8): `.chart` of a result with an infinite value (or a range no double
    /// holds) hung at 100% CPU in plotters.
    #[test]
    fn infinity_is_no_value_and_a_huge_range_is_refused() {
        use datafusion::arrow::array::{Float64Array, StringArray};
        use datafusion::arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let chart = |values: Vec<f64>| {
            let schema = Arc::new(Schema::new(vec![
                Field::new("l", DataType::Utf8, false),
                Field::new("v", DataType::Float64, true),
            ]));
            let labels: Vec<String> = (0..values.len()).map(|i| format!("r{i}")).collect();
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(StringArray::from(labels)), Arc::new(Float64Array::from(values))],
            )
            .unwrap();
            Chart::from_result(&schema, &[batch])
        };
        let dir = tempfile::tempdir().unwrap();
        let with_inf = chart(vec![f64::INFINITY, 1.0, f64::NAN]).unwrap();
        assert_eq!(with_inf.series[0].1, vec![None, Some(1.0), None]);
        with_inf.write_svg(&dir.path().join("x.svg")).unwrap();
        assert!(with_inf.render_text(60).contains(" 1"));
        assert!(chart(vec![f64::MAX, -f64::MAX]).unwrap_err().contains("more than a chart can show"));
        assert!(chart(vec![f64::NEG_INFINITY]).unwrap_err().contains("infinite"));
    }
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn result(labels: &[&str], values: &[Option<i64>]) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("label", DataType::Utf8, false),
            Field::new("meldingen", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(labels.to_vec())), Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap();
        (schema, vec![batch])
    }

    #[test]
    fn periods_make_a_line_chart_and_names_a_bar_chart() {
        let (s, b) = result(&["2020H1", "2020H2", "2021H1"], &[Some(245), None, Some(255)]);
        assert_eq!(Chart::from_result(&s, &b).unwrap().kind, Kind::Line);
        let (s, b) = result(&["Almelo", "Enschede"], &[Some(245), Some(745)]);
        let chart = Chart::from_result(&s, &b).unwrap();
        assert_eq!(chart.kind, Kind::Bar);
        let text = chart.render_text(60);
        assert!(text.contains("Almelo │") && text.contains(" 745"), "{text}");
    }

    #[test]
    fn suppressed_values_show_as_dots() {
        let (s, b) = result(&["Almelo", "Enschede"], &[None, Some(745)]);
        assert!(Chart::from_result(&s, &b).unwrap().render_text(60).contains("Almelo │ .\n"));
    }
}
