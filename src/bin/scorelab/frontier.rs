//! `scorelab frontier`: every sampler at NFE budgets with the exact score of a mixture
//! (`scorelab::app::frontier`), written as CSV, a table on stdout and, with `--png`, a chart
//! of sliced W2 and mode-weight error against NFE with the exact-vs-exact band.

use crate::args::{apply_sde, load_model, SdeArgs};
use crate::chart::{Canvas, Rgb};
use clap::Args;
use scorelab::app::frontier::{Frontier, Point, BUDGETS, CONTENDERS};
use scorelab::sde::Sde;
use scorelab::{Error, Result};

#[derive(Args)]
pub struct FrontierArgs {
    /// A preset (see `scorelab list`) or gmm:FILE.json: the exact score drives every sampler
    #[arg(long)]
    model: String,
    #[command(flatten)]
    sde: SdeArgs,
    /// Particles per run (and the exact samples they are compared with), 10 to 5000
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Budgets of score evaluations, comma-separated
    #[arg(long, value_delimiter = ',', default_values_t = BUDGETS)]
    budgets: Vec<usize>,
    /// Random seed (the same prior draws for every sampler)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the CSV: one line per sampler and budget, with the band
    #[arg(long)]
    out: String,
    /// Also draw the frontier as a PNG chart
    #[arg(long)]
    png: Option<String>,
}

/// Exact mixtures run in double precision on the CPU, as `sample` does.
type B = burn::backend::NdArray<f64>;

pub async fn frontier(a: FrontierArgs) -> Result<()> {
    let gmm = load_model(&a.model)?;
    let sde = apply_sde(Sde::default(), &a.sde)?;
    if let Some(p) = &a.png {
        if !p.ends_with(".png") {
            return Err(Error::invalid("--png", "must end in .png"));
        }
    }
    let mut f = Frontier::new(gmm, sde, a.n, &a.budgets, a.seed).map_err(|e| match e {
        Error::Invalid { field, message } => Error::invalid(format!("--{field}"), message),
        o => o,
    })?;
    let device = Default::default();
    let (_, total) = f.progress();
    let bar = crate::args::progress(Some(total));
    while let Some(p) = f.next::<B>(&device).await? {
        bar.set_message(format!("{} at {} NFE", p.sampler, p.budget));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let name = a.model.rsplit('/').next().unwrap_or(&a.model);
    scorelab::npy::write_atomic(&a.out, f.csv(name).as_bytes())?;
    print_table(&f);
    if let Some(p) = &a.png {
        chart(&f, &format!("{name}, {} SDE, n = {}", sde.name(), a.n)).write_png(p, "--png")?;
    }
    Ok(())
}

/// Sliced W2 per sampler and budget; `*` inside the band (≤ its 99th percentile).
fn print_table(f: &Frontier) {
    let budgets: Vec<usize> = {
        let mut b: Vec<usize> = f.points.iter().map(|p| p.budget).collect();
        b.sort();
        b.dedup();
        b
    };
    print!(
        "sliced W2 by NFE budget (* = inside the exact-vs-exact band)\n{:<11}",
        "sampler"
    );
    for b in &budgets {
        print!("{b:>10}");
    }
    println!();
    for c in CONTENDERS {
        let row: Vec<&Point> = f.points.iter().filter(|p| p.sampler == c.label).collect();
        if row.is_empty() {
            continue;
        }
        print!("{:<11}", c.label);
        for b in &budgets {
            match row.iter().find(|p| p.budget == *b) {
                Some(p) if p.non_finite > 0 => print!("{:>10}", "diverged"),
                Some(p) => {
                    let mark = if p.sw <= f.band.sw_q99 { "*" } else { " " };
                    print!("{:>9.4}{mark}", p.sw);
                }
                None => print!("{:>10}", "-"),
            }
        }
        println!();
    }
    println!(
        "band (exact vs exact, n = {}): sliced W2 median {:.4}, q99 {:.4}; mode-weight error median {:.4}, q99 {:.4}",
        f.yardstick.n, f.band.sw_median, f.band.sw_q99, f.band.weight_error_median, f.band.weight_error_q99
    );
}

/// Each contender's colour in the chart (as the page draws them).
pub fn colour(label: &str) -> Rgb {
    match label {
        "em" => [0, 0, 0],
        "pc" => [230, 159, 0],
        "ancestral" => [86, 180, 233],
        "ald" => [0, 158, 115],
        "langevin" => [150, 150, 150],
        "ode-euler" => [140, 86, 75],
        "ode-heun" => [188, 189, 34],
        "ode-rk4" => [23, 190, 207],
        "ddim" => [0, 114, 178],
        "ddim-eta1" => [204, 121, 167],
        "edm" => [213, 94, 0],
        "dpmpp-2m" => [148, 103, 189],
        _ => [40, 40, 140],
    }
}

const INK: Rgb = [40, 40, 40];
const BAND: Rgb = [120, 120, 120];

/// A panel: its axis label, the value it plots, the band's median and 99th percentile.
type Panel<'a> = (&'a str, fn(&Point) -> f64, f64, f64);

/// Two log-log panels (sliced W2, mode-weight error against NFE) and a legend.
fn chart(f: &Frontier, title: &str) -> Canvas {
    let (w, h) = (1240, 560);
    let mut c = Canvas::new(w, h);
    c.text(
        80,
        14,
        &format!("NFE-quality frontier: {title}"),
        INK,
        2,
        false,
    );
    let panels: [Panel; 2] = [
        (
            "sliced W2 to the exact p_eps",
            |p| p.sw,
            f.band.sw_median,
            f.band.sw_q99,
        ),
        (
            "largest mode-weight error",
            |p| p.weight_error,
            f.band.weight_error_median,
            f.band.weight_error_q99,
        ),
    ];
    for (k, (label, value, median, q99)) in panels.into_iter().enumerate() {
        let (x0, x1, y0, y1) = (90 + k as i64 * 510, 500 + k as i64 * 510, 60i64, 460i64);
        let finite: Vec<f64> = f
            .points
            .iter()
            .map(value)
            .chain([median, q99])
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        let lo = finite
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min)
            .max(1e-6)
            / 1.5;
        let hi = (finite.iter().cloned().fold(0.0, f64::max) * 1.5)
            .min(lo * 1e6)
            .max(lo * 10.0);
        let (ly0, ly1) = (lo.log10(), hi.log10());
        let (lx0, lx1) = ((8f64).log10(), (650f64).log10());
        let px = |nfe: f64| x0 as f64 + (nfe.log10() - lx0) / (lx1 - lx0) * (x1 - x0) as f64;
        let py = |v: f64| {
            let v = v.clamp(lo, hi);
            y1 as f64 - (v.log10() - ly0) / (ly1 - ly0) * (y1 - y0) as f64
        };
        // the band: exact-vs-exact up to its 99th percentile, the median dashed
        c.fill(x0, py(q99).round() as i64, x1, y1, BAND, 0.22);
        c.dashed(x0, x1, py(median).round() as i64, BAND);
        // axes, ticks and labels
        c.line((x0 as f64, y0 as f64), (x0 as f64, y1 as f64), INK, 1);
        c.line((x0 as f64, y1 as f64), (x1 as f64, y1 as f64), INK, 1);
        for b in [10.0, 20.0, 50.0, 100.0, 200.0, 500.0] {
            let x = px(b);
            c.line((x, y1 as f64), (x, y1 as f64 + 5.0), INK, 1);
            let s = format!("{b}");
            c.text(
                x as i64 - Canvas::text_width(&s, 1) / 2,
                y1 + 9,
                &s,
                INK,
                1,
                false,
            );
        }
        c.text(
            (x0 + x1) / 2 - 130,
            y1 + 28,
            "score evaluations (NFE), log scale",
            INK,
            1,
            false,
        );
        let mut e = ly0.floor() as i32;
        while (e as f64) <= ly1 {
            for m in [1.0, 2.0, 5.0] {
                let v = m * 10f64.powi(e);
                if v < lo || v > hi || (m != 1.0 && ly1 - ly0 > 2.5) {
                    continue;
                }
                let y = py(v);
                c.line((x0 as f64 - 5.0, y), (x0 as f64, y), INK, 1);
                let s = tick_label(v);
                c.text(
                    x0 - 8 - Canvas::text_width(&s, 1),
                    y as i64 - 3,
                    &s,
                    INK,
                    1,
                    false,
                );
            }
            e += 1;
        }
        c.text(
            x0 - 70,
            (y0 + y1) / 2 + 100,
            &format!("{label} (log)"),
            INK,
            1,
            true,
        );
        // one line per sampler
        for con in CONTENDERS {
            let mut pts: Vec<&Point> = f.points.iter().filter(|p| p.sampler == con.label).collect();
            pts.sort_by_key(|p| p.nfe);
            let col = colour(con.label);
            let xy: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| p.non_finite == 0)
                .map(|p| (px(p.nfe.max(1) as f64), py(value(p))))
                .collect();
            for w in xy.windows(2) {
                c.line(w[0], w[1], col, 2);
            }
            for (x, y) in xy {
                c.fill(
                    x as i64 - 3,
                    y as i64 - 3,
                    x as i64 + 4,
                    y as i64 + 4,
                    col,
                    1.0,
                );
            }
        }
    }
    // legend
    let (lx, mut ly) = (1045i64, 64i64);
    for con in CONTENDERS {
        if f.points.iter().any(|p| p.sampler == con.label) {
            c.fill(lx, ly + 3, lx + 22, ly + 7, colour(con.label), 1.0);
            c.text(lx + 30, ly, con.label, INK, 2, false);
            ly += 24;
        }
    }
    c.fill(lx, ly + 2, lx + 22, ly + 12, BAND, 0.22);
    c.text(lx + 30, ly, "exact vs", INK, 1, false);
    c.text(lx + 30, ly + 10, "exact, q99", INK, 1, false);
    c.dashed(lx, lx + 22, ly + 30, BAND);
    c.text(lx + 30, ly + 26, "its median", INK, 1, false);
    c
}

/// 0.001, 0.02, 1, 50: the shortest decimal form.
fn tick_label(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let digits = (-v.log10()).ceil() as usize;
        format!("{v:.digits$}")
    }
}
