//! Where the CPU goes, for one scenario cell: a horizontal bar per core,
//! its CPU per request split into user time (solid) and kernel time
//! (light), and beside each bar the counts that explain the kernel part:
//! system calls by kind and their distance from the scenario's floor,
//! io_uring submissions and poll arms, context switches, allocations.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Area, Chart, ChartKind, DrawError, GRID, KeyedAxis, MUTED, Palette, TEXT, header, render, text,
    tint,
};
use crate::analysis::GroupAnalysis;
use crate::error::ReportError;
use crate::fmt;
use crate::kernel::{Floor, KernelRow, WhereCpuGoes};

/// How much white the kernel part of a bar mixes into the core colour.
const KERNEL_TINT: f64 = 0.55;
/// Height of one core's bar slot, px (two lines of counts beside it).
const ROW_PX: u32 = 46;
/// Width of the counts column on the right, px.
const COUNTS_PX: u32 = 430;

/// Draws `kernel-<slug>.png` for `group` (which has kernel figures).
pub(crate) fn draw(
    dir: &Path,
    slug: &str,
    group: &GroupAnalysis,
    view: &WhereCpuGoes,
    palette: &Palette,
) -> Result<Chart, ReportError> {
    let file = format!("kernel-{slug}.png");
    let height = 150 + ROW_PX * view.rows.len() as u32;
    render(dir, &file, (super::WIDTH, height), |root| {
        plot(root, group, view, palette)
    })?;
    Ok(Chart {
        file,
        title: format!(
            "{}: where the CPU goes — user (solid) and kernel (light) µs per request, with the kernel's work per request beside each core",
            group.label
        ),
        kind: ChartKind::Kernel,
        group: Some(group.label.clone()),
    })
}

fn plot(
    root: &Area<'_>,
    group: &GroupAnalysis,
    view: &WhereCpuGoes,
    palette: &Palette,
) -> Result<(), DrawError> {
    let rows = &view.rows;
    let n = rows.len();
    let total = |r: &KernelRow| r.user_us.unwrap_or(0.0) + r.sys_us.unwrap_or(0.0);
    let top = rows.iter().map(total).fold(0.0, f64::max);
    let x_max = if top > 0.0 { top * 1.3 } else { 1.0 };
    let entries = [
        ("solid: user".to_owned(), MUTED),
        ("light: kernel".to_owned(), tint(MUTED, KERNEL_TINT)),
    ];
    let used = header(
        root,
        &format!("{} — where the CPU goes, µs per request", group.label),
        &entries,
    )?;
    let (_, body) = root.split_vertically(used);
    let (width, _) = body.dim_in_pixel();
    let (bars, counts) = body.split_horizontally(width - COUNTS_PX);

    // Row i is drawn from the top: its slot is [n-1-i, n-i).
    let slot = |i: usize| (n - 1 - i) as f64;
    let keys: Vec<f64> = (0..n).map(|i| slot(i) + 0.5).collect();
    let mut chart = ChartBuilder::on(&bars)
        .margin(14)
        .margin_top(4)
        .x_label_area_size(40)
        .y_label_area_size(170)
        .build_cartesian_2d(0f64..x_max, KeyedAxis::new(0f64..n as f64, keys))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .y_label_formatter(&|y| {
            let i = n as isize - 1 - y.floor() as isize;
            usize::try_from(i)
                .ok()
                .and_then(|i| rows.get(i))
                .map(|r| r.core.clone())
                .unwrap_or_default()
        })
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("CPU µs per request")
        .label_style(text(15))
        .axis_desc_style(text(15))
        .draw()?;

    for (i, row) in rows.iter().enumerate() {
        let color = palette.color(&row.core);
        let (y0, y1) = (slot(i) + 0.18, slot(i) + 0.82);
        let (user, sys) = (row.user_us.unwrap_or(0.0), row.sys_us.unwrap_or(0.0));
        chart.draw_series([
            Rectangle::new([(0.0, y0), (user, y1)], color.filled()),
            Rectangle::new(
                [(user, y0), (user + sys, y1)],
                tint(color, KERNEL_TINT).filled(),
            ),
            Rectangle::new([(0.0, y0), (user + sys, y1)], color.stroke_width(1)),
        ])?;
        let label = match (row.user_us, row.sys_us) {
            (Some(u), Some(s)) if u + s > 0.0 => format!(
                "{} µs · {:.0} % kernel",
                fmt::micros(u + s),
                s / (u + s) * 100.0
            ),
            _ => "CPU split not recorded".to_owned(),
        };
        chart.draw_series([Text::new(
            label,
            (user + sys + x_max * 0.01, slot(i) + 0.5),
            text(13).pos(Pos::new(HPos::Left, VPos::Center)),
        )])?;
    }

    // The counts column, each row level with its bar.
    let floor_note = match view.floor {
        Some(Floor { data_syscalls, .. }) => {
            format!("per request; floor {data_syscalls} data syscalls (epoll)")
        }
        None => "per request".to_owned(),
    };
    // Level with the x axis's description, under the counts.
    let (_, counts_h) = counts.dim_in_pixel();
    counts.draw(&Text::new(
        floor_note,
        (8, counts_h as i32 - 30),
        text(13).color(&MUTED),
    ))?;
    for (i, row) in rows.iter().enumerate() {
        let (_, y) = chart.backend_coord(&(0.0, slot(i) + 0.5));
        let (_, top) = counts.get_base_pixel();
        let y = y - top;
        let (first, second) = count_lines(row, view.floor);
        counts.draw(&Text::new(
            first,
            (8, y - 9),
            text(13)
                .color(&TEXT)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        counts.draw(&Text::new(
            second,
            (8, y + 9),
            text(13)
                .color(&MUTED)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// The two lines of counts beside a core's bar.
fn count_lines(row: &KernelRow, floor: Option<Floor>) -> (String, String) {
    let w = &row.work;
    let first = match w.perf("syscalls") {
        Some(total) => {
            let mut s = format!("{total:.2} syscalls");
            let kinds: Vec<String> = [("reads", "rd"), ("writes", "wr"), ("waits", "wait")]
                .iter()
                .filter_map(|(k, short)| Some(format!("{:.2} {short}", w.perf(k)?)))
                .collect();
            if !kinds.is_empty() {
                s.push_str(&format!(" ({})", kinds.join(", ")));
            }
            if let Some(above) = floor.and_then(|f| row.above_floor(&f)) {
                s.push_str(&format!(" {above:+.2} vs floor"));
            }
            s
        }
        None => "syscalls n/a (perf could not count)".to_owned(),
    };
    let mut second = Vec::new();
    if let Some(sqes) = w.perf("uring_submits").filter(|v| *v > 0.0) {
        second.push(format!("{sqes:.2} SQEs"));
        if let Some(arms) = w.perf("uring_poll_arms") {
            second.push(format!("{arms:.2} poll arms"));
        }
    }
    second.push(format!("{:.2} ctxsw", row.work.context_switches()));
    second.push(match w.allocations_per_req {
        Some(a) => format!("{a:.1} allocs"),
        None => "allocs n/a".to_owned(),
    });
    (first, second.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_results::KernelWork;

    #[test]
    fn counts_read_as_the_table_does() {
        let row = KernelRow {
            core: "monoio".into(),
            reference_proxy: false,
            user_us: Some(4.0),
            sys_us: Some(12.0),
            work: KernelWork {
                user_cpu_us_per_req: Some(4.0),
                sys_cpu_us_per_req: Some(12.0),
                voluntary_switches_per_req: 1.0,
                involuntary_switches_per_req: 0.5,
                perf_per_req: [
                    ("syscalls", 1.24),
                    ("reads", 1.0),
                    ("waits", 0.2),
                    ("uring_submits", 4.0),
                    ("uring_poll_arms", 2.0),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
                perf_unavailable: None,
                allocations_per_req: None,
                alloc_bytes_per_req: None,
                allocations_unavailable: Some("a program".into()),
            },
        };
        let (first, second) = count_lines(&row, crate::kernel::floor("http-forward"));
        assert_eq!(first, "1.24 syscalls (1.00 rd, 0.20 wait) -2.76 vs floor");
        assert_eq!(
            second,
            "4.00 SQEs · 2.00 poll arms · 1.50 ctxsw · allocs n/a"
        );
    }
}
