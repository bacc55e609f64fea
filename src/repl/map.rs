//! `.map`: the last result as a choropleth of gemeenten or Veilig Thuis-regio's, as SVG or in the terminal.
//!
//! The result needs a column of region codes (`GM0141` or `VT19`) and a numeric column; one row per region.
//! The boundaries are those of the result's year (the latest of its `period` or `year` column; otherwise
//! 2025), from the simplified CBS/PDOK layers compiled in (`data/boundaries/`, CC BY 4.0). Values fall into
//! up to five quantile classes on a colour-blind-safe sequential palette (ColorBrewer YlGnBu); NULL — a
//! suppressed cell — is shown apart and labelled `.`, a region without a row is left white.

use std::collections::HashMap;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use svg::Document;
use svg::node::element::{Group, Path as SvgPath, Rectangle, Text, Title};
use topojson::{TopoJson, Topology, Value as TopoValue};
use vtsql_udfs::period::Period;

use super::print_format::SUPPRESSED;

/// Which boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Gemeente,
    VtRegio,
}

impl Layer {
    fn name(self) -> &'static str {
        match self {
            Layer::Gemeente => "gemeente",
            Layer::VtRegio => "veiligthuisregio",
        }
    }
}

/// The years with boundaries.
pub const YEARS: std::ops::RangeInclusive<i32> = 2020..=2025;

macro_rules! layers {
    ($($year:literal),*) => {
        &[$(
            (Layer::Gemeente, $year, include_str!(concat!("../../data/boundaries/gemeente_", $year, ".topojson"))),
            (Layer::VtRegio, $year, include_str!(concat!("../../data/boundaries/veiligthuisregio_", $year, ".topojson"))),
        )*]
    };
}

const LAYERS: &[(Layer, i32, &str)] = layers!(2020, 2021, 2022, 2023, 2024, 2025);

/// Whom the boundaries are due to, on every map.
pub const ATTRIBUTION: &str =
    "Bron: CBS, PDOK (gebiedsindelingen, CC BY 4.0), vereenvoudigd door cartomap/nl; cijfers: CBS";

/// One region's outline: rings of (longitude, latitude), outer rings and holes alike (even-odd).
#[derive(Debug, Clone)]
pub struct Shape {
    pub code: String,
    pub name: String,
    pub rings: Vec<Vec<(f64, f64)>>,
    bbox: (f64, f64, f64, f64),
}

impl Shape {
    /// Whether (x, y) lies inside, by the even-odd rule over all rings.
    fn contains(&self, x: f64, y: f64) -> bool {
        let (x0, y0, x1, y1) = self.bbox;
        if x < x0 || x > x1 || y < y0 || y > y1 {
            return false;
        }
        let mut inside = false;
        for ring in &self.rings {
            for (i, &(ax, ay)) in ring.iter().enumerate() {
                let (bx, by) = ring[(i + 1) % ring.len()];
                if (ay > y) != (by > y) && x < ax + (y - ay) * (bx - ax) / (by - ay) {
                    inside = !inside;
                }
            }
        }
        inside
    }

    fn area(&self) -> f64 {
        self.rings
            .iter()
            .map(|ring| {
                let n = ring.len();
                (0..n).map(|i| ring[i].0 * ring[(i + 1) % n].1 - ring[(i + 1) % n].0 * ring[i].1).sum::<f64>().abs()
            })
            .sum::<f64>()
            / 2.0
    }
}

/// Checks what the TopoJSON decoder assumes of a layer, so that a damaged file is an error, not a panic:
/// the object is a collection of polygons whose arc indexes exist, and every arc position has two numbers.
fn check(topology: &Topology, object: &str) -> Result<(), String> {
    let arcs = topology.arcs.len();
    if topology.arcs.iter().flatten().any(|p| p.len() < 2 || !p[0].is_finite() || !p[1].is_finite()) {
        return Err("an arc position without two finite numbers".into());
    }
    let named = topology.objects.iter().find(|o| o.name == object).ok_or(format!("no object {object:?}"))?;
    let TopoValue::GeometryCollection(geometries) = &named.geometry.value else {
        return Err(format!("{object} is not a collection of regions"));
    };
    let ring_ok = |ring: &Vec<i32>| ring.iter().all(|&i| i != i32::MIN && (if i < 0 { !i } else { i }) < arcs as i32);
    for geometry in geometries {
        let fine = match &geometry.value {
            TopoValue::Polygon(rings) => rings.iter().all(ring_ok),
            TopoValue::MultiPolygon(polygons) => polygons.iter().flatten().all(ring_ok),
            _ => false,
        };
        if !fine {
            return Err(format!("{object}: a region that is not a polygon of existing arcs"));
        }
    }
    Ok(())
}

/// The decoder takes the first two numbers of `transform.scale` and `.translate` without looking at their length.
fn check_transform(object: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    let Some(transform) = object.get("transform").and_then(|t| t.as_object()) else { return Ok(()) };
    for member in ["scale", "translate"] {
        if let Some(numbers) = transform.get(member).and_then(|v| v.as_array())
            && numbers.len() < 2
        {
            return Err(format!("transform.{member} has {} numbers, not two", numbers.len()));
        }
    }
    Ok(())
}

/// The regions of the TopoJSON `text`, object `object`, with their `statcode` and `statnaam`.
pub fn read_topology(text: &str, object: &str) -> Result<Vec<Shape>, String> {
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not TopoJSON: {e}"))?;
    check_transform(&json)?;
    let topology = match TopoJson::from_json_object(json).map_err(|e| format!("not TopoJSON: {e}"))? {
        TopoJson::Topology(topology) => topology,
        TopoJson::Geometry(_) => return Err("a TopoJSON geometry, not a topology".into()),
    };
    check(&topology, object)?;
    let collection = topojson::to_geojson(&topology, object).map_err(|e| e.to_string())?;
    let mut shapes = Vec::new();
    for feature in collection.features {
        let property = |name: &str| {
            feature.properties.as_ref().and_then(|p| p.get(name)).and_then(|v| v.as_str()).map(str::to_string)
        };
        let code = property("statcode").ok_or("a region without statcode")?;
        let name = property("statnaam").unwrap_or_else(|| code.clone());
        let polygons = match feature.geometry.map(|g| g.value) {
            Some(geojson::Value::Polygon(rings)) => vec![rings],
            Some(geojson::Value::MultiPolygon(polygons)) => polygons,
            _ => return Err(format!("{code} is not a polygon")),
        };
        let rings: Vec<Vec<(f64, f64)>> = polygons
            .into_iter()
            .flatten()
            .filter(|ring| ring.len() >= 3)
            .map(|ring| ring.into_iter().map(|p| (p[0], p[1])).collect())
            .collect();
        let points = rings.iter().flatten();
        let bbox = points.fold((f64::MAX, f64::MAX, f64::MIN, f64::MIN), |(a, b, c, d), &(x, y)| {
            (a.min(x), b.min(y), c.max(x), d.max(y))
        });
        shapes.push(Shape { code, name, rings, bbox });
    }
    Ok(shapes)
}

/// The compiled-in boundaries of `layer` in `year`.
pub fn boundaries(layer: Layer, year: i32) -> Result<Vec<Shape>, String> {
    let (_, _, text) = LAYERS.iter().find(|(l, y, _)| *l == layer && *y == year).ok_or(format!(
        "no {} boundaries for {year} (there are for {}–{})",
        layer.name(),
        YEARS.start(),
        YEARS.end()
    ))?;
    read_topology(text, &format!("{}_{year}", layer.name()))
}

/// YlGnBu, five classes (ColorBrewer): sequential and readable with every common colour-vision deficiency.
const PALETTE: [&str; 5] = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"];
const SUPPRESSED_FILL: &str = "#bdbdbd";
const TERMINAL: [char; 5] = ['-', '░', '▒', '▓', '█'];

/// A choropleth of one result.
#[derive(Debug)]
pub struct Map {
    pub layer: Layer,
    pub year: i32,
    /// The mapped column's name.
    pub measure: String,
    /// Each region's value; `None` for NULL.
    pub values: HashMap<String, Option<f64>>,
    /// The lower bounds of the classes above the first.
    pub breaks: Vec<f64>,
    pub shapes: Vec<Shape>,
}

/// Every value of a column as text.
fn texts(batches: &[RecordBatch], column: usize) -> Result<Vec<Option<String>>, String> {
    let options = FormatOptions::default();
    let mut out = Vec::new();
    for batch in batches {
        let array = batch.column(column);
        let formatter = ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| e.to_string())?;
        out.extend((0..batch.num_rows()).map(|i| (!array.is_null(i)).then(|| formatter.value(i).to_string())));
    }
    Ok(out)
}

fn is_code(text: &str, prefix: &str, digits: usize) -> bool {
    text.len() == prefix.len() + digits
        && text.starts_with(prefix)
        && text[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
}

impl Map {
    /// Reads a result: its region codes, the first numeric column that is not a year, and its year.
    pub fn from_result(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Map, String> {
        let fields = schema.fields();
        let mut codes = None;
        for i in 0..fields.len() {
            let values = texts(batches, i)?;
            let present: Vec<&String> = values.iter().flatten().collect();
            if present.is_empty() {
                continue;
            }
            if present.iter().all(|v| is_code(v, "GM", 4)) {
                codes = Some((Layer::Gemeente, i, values));
                break;
            }
            if present.iter().all(|v| is_code(v, "VT", 2)) {
                codes = Some((Layer::VtRegio, i, values));
                break;
            }
        }
        let (layer, code_column, codes) =
            codes.ok_or("a map needs a column of gemeente (GM0141) or VT-regio (VT19) codes")?;
        let not_a_year = |name: &str| !matches!(name, "year" | "half" | "jaar");
        let measure = (0..fields.len())
            .find(|&i| i != code_column && fields[i].data_type().is_numeric() && not_a_year(fields[i].name()))
            .ok_or("a map needs a numeric column to colour the regions by")?;
        let mut values = HashMap::new();
        let mut all_values = Vec::new();
        for batch in batches {
            let numbers = cast(batch.column(measure), &DataType::Float64).map_err(|e| e.to_string())?;
            all_values.extend(numbers.as_primitive::<Float64Type>().iter());
        }
        for (code, value) in codes.into_iter().zip(all_values) {
            let Some(code) = code else { continue };
            if values.insert(code.clone(), value).is_some() {
                return Err(format!(
                    "{code} has more than one row: a map shows one value per region (filter one period, e.g. WHERE period = '2024H1')"
                ));
            }
        }
        let year = Self::year_of(schema, batches)?.unwrap_or(*YEARS.end()).clamp(*YEARS.start(), *YEARS.end());
        let mut present: Vec<f64> = values.values().flatten().copied().filter(|v| v.is_finite()).collect();
        present.sort_by(f64::total_cmp);
        let mut breaks: Vec<f64> =
            (1..PALETTE.len()).filter_map(|k| present.get(k * present.len() / PALETTE.len()).copied()).collect();
        breaks.dedup();
        breaks.retain(|b| Some(b) != present.first());
        Ok(Map {
            layer,
            year,
            measure: fields[measure].name().clone(),
            values,
            breaks,
            shapes: boundaries(layer, year)?,
        })
    }

    /// The latest year of a `period` or `year` column, if the result has one.
    fn year_of(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Option<i32>, String> {
        let Some(i) = schema.fields().iter().position(|f| matches!(f.name().as_str(), "period" | "year" | "jaar"))
        else {
            return Ok(None);
        };
        Ok(texts(batches, i)?.iter().flatten().filter_map(|t| Period::parse(t).map(|(p, _)| p.year)).max())
    }

    /// The class of a value: 0 to 4.
    fn class(&self, value: f64) -> usize {
        self.breaks.iter().filter(|b| value >= **b).count()
    }

    /// The legend's entries: (fill, label).
    fn legend(&self) -> Vec<(&'static str, String)> {
        let mut present: Vec<f64> = self.values.values().flatten().copied().collect();
        present.sort_by(f64::total_cmp);
        let mut out = Vec::new();
        if let (Some(low), Some(high)) = (present.first(), present.last()) {
            let mut bounds = vec![*low];
            bounds.extend(&self.breaks);
            for (k, from) in bounds.iter().enumerate() {
                let to = bounds.get(k + 1).copied().unwrap_or(*high);
                out.push((PALETTE[k], format!("{} – {}", number(*from), number(to))));
            }
        }
        out.push((SUPPRESSED_FILL, format!("{SUPPRESSED}  (suppressed or unknown)")));
        out.push(("#ffffff", "not in the result".into()));
        out
    }

    fn fill(&self, code: &str) -> &'static str {
        match self.values.get(code) {
            Some(Some(v)) => PALETTE[self.class(*v)],
            Some(None) => SUPPRESSED_FILL,
            None => "#ffffff",
        }
    }

    /// The map as an SVG document: one path per region (with its code and name), a legend and the
    /// attribution.
    pub fn to_svg(&self) -> String {
        let (x0, y0, x1, y1) = self.shapes.iter().fold((f64::MAX, f64::MAX, f64::MIN, f64::MIN), |(a, b, c, d), s| {
            (a.min(s.bbox.0), b.min(s.bbox.1), c.max(s.bbox.2), d.max(s.bbox.3))
        });
        // longitude shrunk by the cosine of the Netherlands' latitude: close to equal-area here
        let squeeze = 52.2_f64.to_radians().cos();
        let width = 640.0;
        let scale = width / ((x1 - x0) * squeeze).max(1e-9);
        let height = (y1 - y0) * scale;
        let (left, top) = (20.0, 60.0);
        let point = |(x, y): (f64, f64)| (left + (x - x0) * squeeze * scale, top + (y1 - y) * scale);
        let mut shapes: Vec<&Shape> = self.shapes.iter().collect();
        // larger regions first, so that one lying inside another is drawn over it
        shapes.sort_by(|a, b| b.area().total_cmp(&a.area()));
        let mut regions = Group::new().set("id", "regions").set("stroke", "#636363").set("stroke-width", 0.4);
        for shape in shapes {
            let mut d = String::new();
            for ring in &shape.rings {
                for (i, &p) in ring.iter().enumerate() {
                    let (x, y) = point(p);
                    d.push_str(&format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" }));
                }
                d.push('Z');
            }
            let value = match self.values.get(&shape.code) {
                Some(Some(v)) => number(*v),
                Some(None) => SUPPRESSED.to_string(),
                None => "no row".into(),
            };
            let path = SvgPath::new()
                .set("id", shape.code.as_str())
                .set("class", "region")
                .set("d", d)
                .set("fill", self.fill(&shape.code))
                .set("fill-rule", "evenodd")
                .add(Title::new(format!("{} {}: {value}", shape.code, shape.name)));
            regions = regions.add(path);
        }
        let level = match self.layer {
            Layer::Gemeente => "gemeente",
            Layer::VtRegio => "Veilig Thuis-regio",
        };
        let title = Text::new(format!("{} per {level}, {}", self.measure, self.year))
            .set("x", left)
            .set("y", 32)
            .set("font-family", "sans-serif")
            .set("font-size", 18);
        let mut legend = Group::new().set("id", "legend").set("font-family", "sans-serif").set("font-size", 12);
        let legend_x = left + width + 20.0;
        for (k, (fill, label)) in self.legend().into_iter().enumerate() {
            let y = top + k as f64 * 22.0;
            legend = legend
                .add(
                    Rectangle::new()
                        .set("x", legend_x)
                        .set("y", y)
                        .set("width", 16)
                        .set("height", 16)
                        .set("fill", fill)
                        .set("stroke", "#636363"),
                )
                .add(Text::new(label).set("x", legend_x + 24.0).set("y", y + 13.0));
        }
        let attribution = Text::new(ATTRIBUTION)
            .set("id", "attribution")
            .set("x", left)
            .set("y", top + height + 28.0)
            .set("font-family", "sans-serif")
            .set("font-size", 10)
            .set("fill", "#636363");
        let document = Document::new()
            .set("width", legend_x + 240.0)
            .set("height", top + height + 40.0)
            .set("viewBox", (0, 0, (legend_x + 240.0) as i64, (top + height + 40.0) as i64))
            .add(Rectangle::new().set("width", "100%").set("height", "100%").set("fill", "#ffffff"))
            .add(title)
            .add(regions)
            .add(legend)
            .add(attribution);
        document.to_string()
    }

    pub fn write_svg(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.to_svg()).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The map drawn with characters, `width` columns wide: a shade per class, `.` for NULL.
    pub fn render_text(&self, width: usize) -> String {
        let (x0, y0, x1, y1) = self.shapes.iter().fold((f64::MAX, f64::MAX, f64::MIN, f64::MIN), |(a, b, c, d), s| {
            (a.min(s.bbox.0), b.min(s.bbox.1), c.max(s.bbox.2), d.max(s.bbox.3))
        });
        let squeeze = 52.2_f64.to_radians().cos();
        let width = width.max(20);
        // a character cell is about twice as high as it is wide
        let height = (((y1 - y0) / ((x1 - x0) * squeeze)) * width as f64 / 2.0).round().max(5.0) as usize;
        let mut out = format!("{} per {}, {}\n", self.measure, self.layer.name(), self.year);
        for row in 0..height {
            let y = y1 - (row as f64 + 0.5) / height as f64 * (y1 - y0);
            let line: String = (0..width)
                .map(|col| {
                    let x = x0 + (col as f64 + 0.5) / width as f64 * (x1 - x0);
                    match self.shapes.iter().find(|s| s.contains(x, y)) {
                        None => ' ',
                        Some(shape) => match self.values.get(&shape.code) {
                            Some(Some(v)) => TERMINAL[self.class(*v)],
                            Some(None) => '.',
                            None => '·',
                        },
                    }
                })
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for (k, (_, label)) in self.legend().into_iter().enumerate() {
            let mark = TERMINAL.get(k).copied().filter(|_| k < self.breaks.len() + 1);
            let mark = mark.unwrap_or_else(|| if label.starts_with(SUPPRESSED) { '.' } else { '·' });
            out.push_str(&format!("  {mark} {label}\n"));
        }
        out.push_str(ATTRIBUTION);
        out.push('\n');
        out
    }
}

/// A value for a legend or a tooltip: whole numbers without decimals, others with one.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layer_reads_with_one_shape_per_region() {
        for (layer, year, count) in [
            (Layer::Gemeente, 2020, 355),
            (Layer::Gemeente, 2021, 352),
            (Layer::Gemeente, 2022, 345),
            (Layer::Gemeente, 2023, 342),
            (Layer::Gemeente, 2025, 342),
            (Layer::VtRegio, 2022, 26),
            (Layer::VtRegio, 2023, 25),
        ] {
            let shapes = boundaries(layer, year).unwrap();
            assert_eq!(shapes.len(), count, "{layer:?} {year}");
            assert!(shapes.iter().all(|s| !s.rings.is_empty()), "{layer:?} {year}");
        }
        let almelo = boundaries(Layer::Gemeente, 2023).unwrap().into_iter().find(|s| s.code == "GM0141").unwrap();
        assert!(almelo.contains(6.66, 52.36), "Almelo's centre lies in Almelo");
        assert!(!almelo.contains(4.9, 52.37), "Amsterdam does not");
    }

    #[test]
    fn damaged_layers_are_errors() {
        for bad in [
            "",
            "{}",
            r#"{"type":"Topology","objects":{},"arcs":[]}"#,
            r#"{"type":"Topology","objects":{"g":{"type":"GeometryCollection","geometries":[{"type":"Polygon","arcs":[[7]]}]}},"arcs":[[[0,0],[1,1]]]}"#,
            r#"{"type":"Topology","objects":{"g":{"type":"GeometryCollection","geometries":[{"type":"Polygon","arcs":[[-2147483648]]}]}},"arcs":[]}"#,
            r#"{"type":"Topology","objects":{"g":{"type":"GeometryCollection","geometries":[{"type":"Polygon","arcs":[[0]]}]}},"arcs":[[[0]]]}"#,
            r#"{"type":"Topology","objects":{"g":{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[]}]}},"arcs":[]}"#,
            // found by the fuzz target: a scale of one number
            r#"{"type":"Topology","transform":{"scale":[1],"translate":[0,0]},"objects":{},"arcs":[]}"#,
            r#"{"type":"Topology","transform":{"scale":[1,1],"translate":[]},"objects":{},"arcs":[]}"#,
        ] {
            assert!(read_topology(bad, "g").is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Any damage to a layer gives regions or an error, never a panic (the short form of the `topojson`
        /// fuzz target).
        #[test]
        fn damaged_layers_are_read_or_refused(
            edits in proptest::collection::vec((0usize..25_000, 0usize..30, "[-0-9,\\[\\]{}\":a-z ]{0,8}"), 1..5),
        ) {
            let (_, _, layer) = LAYERS.iter().find(|(l, y, _)| *l == Layer::VtRegio && *y == 2025).expect("a layer");
            let mut text = layer.to_string();
            for (at, remove, insert) in &edits {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + remove).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.replace_range(at..end, insert);
            }
            let _ = read_topology(&text, "veiligthuisregio_2025");
        }
    }
}
