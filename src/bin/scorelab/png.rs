//! `--png`: the first 64 samples as an 8×8 grid of 28×28 grey images (2-pixel gutters),
//! values clamped to [0, 1], written atomically.

use scorelab::data::images::PIXELS;
use scorelab::{Error, Result};

const SIDE: usize = 28;
const GAP: usize = 2;
const COLS: usize = 8;

/// Write up to 64 rows of `x` (`[n, d]` row-major, d = 784) as an 8×8 grid PNG.
pub fn write_grid(path: &str, x: &[f64], d: usize) -> Result<()> {
    if d != PIXELS {
        return Err(Error::invalid(
            "--png",
            format!("draws 28x28 images (784 values per row); these samples have {d}"),
        ));
    }
    if !path.ends_with(".png") {
        return Err(Error::invalid("--png", "must end in .png"));
    }
    let n = (x.len() / d).min(COLS * COLS);
    let rows = n.div_ceil(COLS);
    let (w, h) = (
        COLS * SIDE + (COLS + 1) * GAP,
        rows * SIDE + (rows + 1) * GAP,
    );
    let mut img = vec![0u8; w * h];
    for k in 0..n {
        let (r, c) = (k / COLS, k % COLS);
        for i in 0..SIDE {
            for j in 0..SIDE {
                let v = x[k * d + i * SIDE + j].clamp(0.0, 1.0);
                img[(GAP + r * (SIDE + GAP) + i) * w + GAP + c * (SIDE + GAP) + j] =
                    (v * 255.0).round() as u8;
            }
        }
    }
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w as u32, h as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| Error::io(path, format!("PNG encoding failed: {e}")))?;
        writer
            .write_image_data(&img)
            .map_err(|e| Error::io(path, format!("PNG encoding failed: {e}")))?;
    }
    scorelab::npy::write_atomic(path, &bytes)
}
