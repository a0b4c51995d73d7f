//! The NFE–quality frontier: every sampler at budgets of score evaluations (NFE), driven by
//! the exact score of a Gaussian mixture, scored against exact samples of the marginal at the
//! time the samplers stop, next to the exact-vs-exact band of the same sample size.
//!
//! A sampler's error at a budget is then its discretisation error alone (the score is exact),
//! and the band says what "indistinguishable from exact" means at this sample size: the
//! sliced Wasserstein-2 distance to the mixture `p_ε` itself (exact projected quantiles,
//! [`crate::stats::sliced_wasserstein_to`]: no reference sample's noise) and the largest
//! mode-weight error ([`crate::stats::mode_weights`]), each for exact samples of the same size
//! over 100 draws. `scorelab frontier` writes it as CSV and PNG; the page
//! draws it point by point ([`Frontier::next`]).

use crate::error::{count, Error, Result};
use crate::model::gmm::{ExactGmm, Gmm};
use crate::sample::{Sampler, SamplerConfig};
use crate::sde::Sde;
use crate::stats::{finite_rows, quantile, weight_error, SlicedQuantiles};
use crate::tensor::read_f64;
use burn::tensor::backend::Backend;
use serde::Serialize;

/// The budgets of `scorelab frontier` and the page's panel.
pub const BUDGETS: [usize; 6] = [10, 20, 50, 100, 200, 500];

/// The time every reverse-time contender stops at (the samplers' default ε).
pub const T_END: f64 = 1e-3;

/// One line of the frontier: a sampler with fixed settings, its step count set by the budget.
#[derive(Debug, Clone, Copy)]
pub struct Contender {
    /// The curve's name (a sampler name, or a sampler and its variant).
    pub label: &'static str,
    /// The settings apart from the step count.
    pub settings: &'static str,
    /// The setting the budget sets.
    pub steps_key: &'static str,
    /// Score evaluations per unit of `steps_key`.
    pub nfe_per_step: usize,
}

/// Every sampler, with the settings that make it what it is (and ε = [`T_END`]).
pub const CONTENDERS: &[Contender] = &[
    Contender {
        label: "em",
        settings: r#"{"kind":"em"}"#,
        steps_key: "steps",
        nfe_per_step: 1,
    },
    Contender {
        label: "pc",
        settings: r#"{"kind":"pc"}"#,
        steps_key: "steps",
        nfe_per_step: 2,
    },
    Contender {
        label: "ancestral",
        settings: r#"{"kind":"pc","predictor":"ancestral","corrector":"none"}"#,
        steps_key: "steps",
        nfe_per_step: 1,
    },
    Contender {
        label: "ald",
        settings: r#"{"kind":"ald","levels":10}"#,
        steps_key: "steps_per_level",
        nfe_per_step: 10,
    },
    Contender {
        label: "langevin",
        settings: r#"{"kind":"langevin"}"#,
        steps_key: "steps",
        nfe_per_step: 1,
    },
    Contender {
        label: "ode-euler",
        settings: r#"{"kind":"ode","solver":"euler"}"#,
        steps_key: "steps",
        nfe_per_step: 1,
    },
    Contender {
        label: "ode-heun",
        settings: r#"{"kind":"ode","solver":"heun"}"#,
        steps_key: "steps",
        nfe_per_step: 2,
    },
    Contender {
        label: "ode-rk4",
        settings: r#"{"kind":"ode","solver":"rk4"}"#,
        steps_key: "steps",
        nfe_per_step: 4,
    },
    Contender {
        label: "ddim",
        settings: r#"{"kind":"ddim","eta":0}"#,
        steps_key: "steps",
        nfe_per_step: 1,
    },
    Contender {
        label: "ddim-eta1",
        settings: r#"{"kind":"ddim","eta":1}"#,
        steps_key: "steps",
        nfe_per_step: 1,
    },
    Contender {
        label: "edm",
        settings: r#"{"kind":"edm"}"#,
        steps_key: "steps",
        nfe_per_step: 2,
    },
    Contender {
        label: "dpmpp-2m",
        settings: r#"{"kind":"dpmpp-2m"}"#,
        steps_key: "steps",
        nfe_per_step: 1,
    },
    Contender {
        label: "dpmpp-2s",
        settings: r#"{"kind":"dpmpp-2s"}"#,
        steps_key: "steps",
        nfe_per_step: 2,
    },
];

impl Contender {
    /// The sampler's settings at a budget: as many steps as the budget pays for (at least one).
    pub fn at_budget(&self, budget: usize) -> SamplerConfig {
        let mut v: serde_json::Value =
            serde_json::from_str(self.settings).expect("contender settings are JSON");
        v[self.steps_key] = (budget / self.nfe_per_step).max(1).into();
        if v.get("kind").and_then(|k| k.as_str()) != Some("langevin")
            && v.get("kind").and_then(|k| k.as_str()) != Some("ald")
        {
            v["t_end"] = T_END.into();
        }
        serde_json::from_value(v).expect("contender settings parse")
    }
}

/// What exact samples of the same size give: the band a sampler's statistics are read against.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Band {
    pub sw_median: f64,
    pub sw_q99: f64,
    pub weight_error_median: f64,
    pub weight_error_q99: f64,
}

/// One point of the frontier.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub sampler: &'static str,
    pub budget: usize,
    /// Score evaluations the run used (at most the budget).
    pub nfe: usize,
    pub steps: usize,
    /// Sliced W2 to `p_ε` (exact projected quantiles).
    pub sw: f64,
    /// max_k |weight_k − w_k|.
    pub weight_error: f64,
    /// Particles that were not finite (a diverged run).
    pub non_finite: usize,
}

/// The mixture `p_t` itself: means `m μ_k`, covariances `m² Σ_k + v I`.
pub fn mixture_at(gmm: &Gmm, sde: &Sde, t: f64) -> Gmm {
    let (m, v) = (sde.mean_scale(t), sde.variance(t));
    let d = gmm.dim();
    let mut g = gmm.clone();
    g.means = gmm
        .means
        .iter()
        .map(|mu| mu.iter().map(|x| m * x).collect())
        .collect();
    g.covs = gmm
        .covs
        .iter()
        .map(|c| {
            (0..d * d)
                .map(|ij| m * m * c[ij] + if ij / d == ij % d { v } else { 0.0 })
                .collect()
        })
        .collect();
    g
}

/// The contender of a name.
pub fn contender(label: &str) -> Result<&'static Contender> {
    CONTENDERS.iter().find(|c| c.label == label).ok_or_else(|| {
        let names: Vec<&str> = CONTENDERS.iter().map(|c| c.label).collect();
        Error::invalid(
            "sampler",
            format!(
                "unknown frontier sampler '{label}'; accepted: {}",
                names.join(", ")
            ),
        )
    })
}

/// What every point is measured against: the mixture `p_ε` ([`mixture_at`]) and its exact
/// projected quantiles for `n` particles (computed once, [`SlicedQuantiles`]).
pub struct Yardstick {
    pub target: Gmm,
    pub quantiles: SlicedQuantiles,
    pub n: usize,
}

/// Exact draws behind the band.
const BAND_REPEATS: usize = 100;

/// Directions of the sliced distance.
const DIRECTIONS: usize = 64;

impl Yardstick {
    /// For runs of `n` particles of samplers stopping at [`T_END`] under `sde`.
    pub fn new(gmm: &Gmm, sde: &Sde, n: usize, seed: u64) -> Result<Self> {
        count("n", n, 10, crate::stats::MAX_ROWS)?;
        let target = mixture_at(gmm, sde, T_END);
        let quantiles = SlicedQuantiles::new(&target, n, DIRECTIONS, seed);
        Ok(Yardstick {
            target,
            quantiles,
            n,
        })
    }

    /// What exact samples of size `n` score: the median and 99th percentile of the sliced
    /// distance and of the mode-weight error over [`BAND_REPEATS`] draws.
    pub fn band(&self, seed: u64) -> Band {
        let mut noise = crate::rng::Noise::new(seed ^ 0xba4d);
        let (mut sws, mut werrs) = (vec![], vec![]);
        for _ in 0..BAND_REPEATS {
            let x = self.target.sample(self.n, noise.rng());
            sws.push(self.quantiles.distance(&x));
            werrs.push(weight_error(&self.target, &x));
        }
        Band {
            sw_median: quantile(sws.clone(), 0.5),
            sw_q99: quantile(sws, 0.99),
            weight_error_median: quantile(werrs.clone(), 0.5),
            weight_error_q99: quantile(werrs, 0.99),
        }
    }
}

/// One point: `c` at `budget` on the yardstick's `n` particles (seeded: the same prior draws
/// for every sampler), measured against `p_ε`.
pub async fn run_point<B: Backend>(
    gmm: &Gmm,
    sde: Sde,
    yardstick: &Yardstick,
    seed: u64,
    c: &Contender,
    budget: usize,
    device: &B::Device,
) -> Result<Point> {
    let cfg = c.at_budget(budget);
    let model = ExactGmm::<B>::new(gmm.clone(), sde, device);
    let mut s = Sampler::<B>::new(&cfg, sde, yardstick.n, gmm.dim(), seed, false, device)?;
    let info = s.run(&model, |_, _| {}).await?;
    let x = read_f64(s.particles()).await?;
    let (clean, non_finite) = finite_rows(&x, gmm.dim());
    Ok(Point {
        sampler: c.label,
        budget,
        nfe: info.nfe,
        steps: info.index,
        sw: yardstick.quantiles.distance(&clean),
        weight_error: weight_error(&yardstick.target, &clean),
        non_finite,
    })
}

/// A frontier in progress: the runs left, the band, the points so far.
pub struct Frontier {
    pub gmm: Gmm,
    pub sde: Sde,
    /// `p_ε` and its quantiles for the run's `n` particles.
    pub yardstick: Yardstick,
    pub seed: u64,
    pub band: Band,
    /// (contender, budget) pairs still to run, in order.
    pub plan: Vec<(Contender, usize)>,
    pub points: Vec<Point>,
    next: usize,
}

impl Frontier {
    /// Every contender defined for `sde` at every budget.
    pub fn new(gmm: Gmm, sde: Sde, n: usize, budgets: &[usize], seed: u64) -> Result<Self> {
        sde.validate()?;
        let yardstick = Yardstick::new(&gmm, &sde, n, seed)?;
        if budgets.is_empty() {
            return Err(Error::invalid("budgets", "must name at least one budget"));
        }
        for b in budgets {
            count("budgets", *b, 1, 100_000)?;
        }
        let band = yardstick.band(seed);
        let plan = CONTENDERS
            .iter()
            .filter(|c| c.at_budget(10).validate(&sde).is_ok())
            .flat_map(|c| budgets.iter().map(move |b| (*c, *b)))
            .collect();
        Ok(Frontier {
            gmm,
            yardstick,
            sde,
            seed,
            band,
            plan,
            points: vec![],
            next: 0,
        })
    }

    /// Runs done and in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.next, self.plan.len())
    }

    /// Run the next (sampler, budget) pair; `None` when all are done.
    pub async fn next<B: Backend>(&mut self, device: &B::Device) -> Result<Option<Point>> {
        let Some((c, budget)) = self.plan.get(self.next).copied() else {
            return Ok(None);
        };
        self.next += 1;
        let p = run_point::<B>(
            &self.gmm,
            self.sde,
            &self.yardstick,
            self.seed,
            &c,
            budget,
            device,
        )
        .await?;
        self.points.push(p.clone());
        Ok(Some(p))
    }

    /// Run what is left.
    pub async fn run<B: Backend>(&mut self, device: &B::Device) -> Result<()> {
        while self.next::<B>(device).await?.is_some() {}
        Ok(())
    }

    /// The best point at a budget (smallest sliced W2).
    pub fn best_at(&self, budget: usize) -> Option<&Point> {
        self.points
            .iter()
            .filter(|p| p.budget == budget && p.non_finite == 0)
            .min_by(|a, b| a.sw.total_cmp(&b.sw))
    }

    /// The CSV: a header, then one line per point with the band repeated (a row stands alone).
    pub fn csv(&self, preset: &str) -> String {
        let mut out = String::from(
            "preset,sde,sampler,budget,nfe,steps,sliced_w2,mode_weight_error,non_finite,band_sw_median,band_sw_q99,band_weight_median,band_weight_q99\n",
        );
        let b = &self.band;
        for p in &self.points {
            out += &format!(
                "{preset},{},{},{},{},{},{:.6},{:.6},{},{:.6},{:.6},{:.6},{:.6}\n",
                self.sde.name(),
                p.sampler,
                p.budget,
                p.nfe,
                p.steps,
                p.sw,
                p.weight_error,
                p.non_finite,
                b.sw_median,
                b.sw_q99,
                b.weight_error_median,
                b.weight_error_q99
            );
        }
        out
    }
}
