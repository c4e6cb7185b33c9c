//! Bar charts drawn as SVG on the server: no script, scalable, printable. Geometry is
//! computed here; the template (`web/bar_chart.svg`) escapes every label.

use askama::Template;

/// One bar: what it stands for and its value.
pub struct Bar {
    pub label: String,
    pub value: f64,
}

/// A bar placed on the canvas.
pub struct Placed {
    pub label: String,
    pub value: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Where its label and value are written.
    pub label_x: f64,
    pub label_y: f64,
    pub value_x: f64,
    pub value_y: f64,
}

#[derive(Template)]
#[template(path = "web/bar_chart.svg")]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub description: String,
    pub width: f64,
    pub height: f64,
    pub vertical: bool,
    pub bars: Vec<Placed>,
    pub empty: bool,
}

const WIDTH: f64 = 640.0;
/// Room for the labels left of horizontal bars.
const LABEL_ROOM: f64 = 190.0;
const ROW: f64 = 26.0;

/// A figure with as many decimals as its size needs (a few seconds of one core are not
/// "0.0" hours).
pub fn shown(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else if value > 0.0 {
        format!("{value:.3}")
    } else {
        "0".to_owned()
    }
}

fn top(bars: &[Bar]) -> f64 {
    bars.iter()
        .map(|b| b.value)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
}

/// Columns side by side (time on the x axis), labels under them.
pub fn columns(id: &str, title: &str, unit: &str, bars: Vec<Bar>) -> Chart {
    let height = 260.0;
    let base = height - 40.0;
    let room = base - 24.0;
    let max = top(&bars);
    #[allow(clippy::cast_precision_loss)]
    let slot = WIDTH / bars.len().max(1) as f64;
    let placed = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let h = room * b.value / max;
            #[allow(clippy::cast_precision_loss)]
            let x = slot * i as f64 + slot * 0.15;
            Placed {
                label: b.label.clone(),
                value: shown(b.value),
                x,
                y: base - h,
                width: slot * 0.7,
                height: h,
                label_x: x + slot * 0.35,
                label_y: base + 16.0,
                value_x: x + slot * 0.35,
                value_y: base - h - 6.0,
            }
        })
        .collect();
    chart(id, title, unit, &bars, WIDTH, height, true, placed)
}

/// Bars across (one row per name), labels at their left.
pub fn rows(id: &str, title: &str, unit: &str, bars: Vec<Bar>) -> Chart {
    #[allow(clippy::cast_precision_loss)]
    let height = ROW * bars.len().max(1) as f64 + 10.0;
    let room = WIDTH - LABEL_ROOM - 70.0;
    let max = top(&bars);
    let placed = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            #[allow(clippy::cast_precision_loss)]
            let y = 5.0 + ROW * i as f64;
            let w = room * b.value / max;
            Placed {
                label: b.label.clone(),
                value: shown(b.value),
                x: LABEL_ROOM,
                y: y + 3.0,
                width: w,
                height: ROW - 8.0,
                label_x: LABEL_ROOM - 8.0,
                label_y: y + ROW / 2.0 + 4.0,
                value_x: LABEL_ROOM + w + 6.0,
                value_y: y + ROW / 2.0 + 4.0,
            }
        })
        .collect();
    chart(id, title, unit, &bars, WIDTH, height, false, placed)
}

#[allow(clippy::too_many_arguments)]
fn chart(
    id: &str,
    title: &str,
    unit: &str,
    bars: &[Bar],
    width: f64,
    height: f64,
    vertical: bool,
    placed: Vec<Placed>,
) -> Chart {
    let description = bars
        .iter()
        .map(|b| format!("{}: {} {unit}", b.label, shown(b.value)))
        .collect::<Vec<_>>()
        .join("; ");
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        description,
        width,
        height,
        vertical,
        empty: bars.is_empty(),
        bars: placed,
    }
}

/// The `n` largest bars, the rest summed into one "others" bar.
pub fn largest(mut bars: Vec<Bar>, n: usize) -> Vec<Bar> {
    bars.sort_by(|a, b| b.value.total_cmp(&a.value));
    if bars.len() > n {
        let rest: f64 = bars.drain(n..).map(|b| b.value).sum();
        bars.push(Bar {
            label: "(all others)".into(),
            value: rest,
        });
    }
    bars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(values: &[(&str, f64)]) -> Vec<Bar> {
        values
            .iter()
            .map(|(l, v)| Bar {
                label: (*l).to_owned(),
                value: *v,
            })
            .collect()
    }

    #[test]
    fn the_tallest_column_fills_the_room_and_others_scale() {
        let c = columns("m", "Core hours", "h", bars(&[("Jan", 10.0), ("Feb", 5.0)]));
        assert!((c.bars[0].height - 2.0 * c.bars[1].height).abs() < 1e-9);
        assert!((c.bars[0].y + c.bars[0].height - (c.bars[1].y + c.bars[1].height)).abs() < 1e-9);
        assert_eq!(c.description, "Jan: 10.0 h; Feb: 5.0 h");
    }

    #[test]
    fn labels_are_escaped_and_all_zero_draws_no_nan() {
        let c = rows("a", "By app", "h", bars(&[("<script>", 0.0)]));
        let svg = c.render().expect("svg");
        assert!(svg.contains("&#60;script&#62;"), "{svg}");
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn only_the_largest_are_named() {
        let b = largest(bars(&[("a", 1.0), ("b", 5.0), ("c", 3.0), ("d", 2.0)]), 2);
        let named: Vec<(&str, f64)> = b.iter().map(|b| (b.label.as_str(), b.value)).collect();
        assert_eq!(named, [("b", 5.0), ("c", 3.0), ("(all others)", 3.0)]);
    }
}
