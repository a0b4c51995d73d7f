//! A small RGB raster for the CLI's charts (`scorelab frontier --png`): filled rectangles,
//! thick lines, and text in a 5×7 bitmap font, written as PNG. No font files, no plotting
//! crate: the charts need axes, ticks, a legend and a title, nothing more.

use scorelab::{Error, Result};

pub type Rgb = [u8; 3];

pub struct Canvas {
    pub w: usize,
    pub h: usize,
    px: Vec<u8>,
}

/// The 5×7 glyphs, column by column, bit 0 at the top (the classic glcdfont layout).
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0x3E, 0x51, 0x49, 0x45, 0x3E],
        '1' => [0x00, 0x42, 0x7F, 0x40, 0x00],
        '2' => [0x42, 0x61, 0x51, 0x49, 0x46],
        '3' => [0x21, 0x41, 0x45, 0x4B, 0x31],
        '4' => [0x18, 0x14, 0x12, 0x7F, 0x10],
        '5' => [0x27, 0x45, 0x45, 0x45, 0x39],
        '6' => [0x3C, 0x4A, 0x49, 0x49, 0x30],
        '7' => [0x01, 0x71, 0x09, 0x05, 0x03],
        '8' => [0x36, 0x49, 0x49, 0x49, 0x36],
        '9' => [0x06, 0x49, 0x49, 0x29, 0x1E],
        'a' => [0x20, 0x54, 0x54, 0x54, 0x78],
        'b' => [0x7F, 0x48, 0x44, 0x44, 0x38],
        'c' => [0x38, 0x44, 0x44, 0x44, 0x20],
        'd' => [0x38, 0x44, 0x44, 0x48, 0x7F],
        'e' => [0x38, 0x54, 0x54, 0x54, 0x18],
        'f' => [0x08, 0x7E, 0x09, 0x01, 0x02],
        'g' => [0x0C, 0x52, 0x52, 0x52, 0x3E],
        'h' => [0x7F, 0x08, 0x04, 0x04, 0x78],
        'i' => [0x00, 0x44, 0x7D, 0x40, 0x00],
        'j' => [0x20, 0x40, 0x44, 0x3D, 0x00],
        'k' => [0x7F, 0x10, 0x28, 0x44, 0x00],
        'l' => [0x00, 0x41, 0x7F, 0x40, 0x00],
        'm' => [0x7C, 0x04, 0x18, 0x04, 0x78],
        'n' => [0x7C, 0x08, 0x04, 0x04, 0x78],
        'o' => [0x38, 0x44, 0x44, 0x44, 0x38],
        'p' => [0x7C, 0x14, 0x14, 0x14, 0x08],
        'q' => [0x08, 0x14, 0x14, 0x18, 0x7C],
        'r' => [0x7C, 0x08, 0x04, 0x04, 0x08],
        's' => [0x48, 0x54, 0x54, 0x54, 0x20],
        't' => [0x04, 0x3F, 0x44, 0x40, 0x20],
        'u' => [0x3C, 0x40, 0x40, 0x20, 0x7C],
        'v' => [0x1C, 0x20, 0x40, 0x20, 0x1C],
        'w' => [0x3C, 0x40, 0x30, 0x40, 0x3C],
        'x' => [0x44, 0x28, 0x10, 0x28, 0x44],
        'y' => [0x0C, 0x50, 0x50, 0x50, 0x3C],
        'z' => [0x44, 0x64, 0x54, 0x4C, 0x44],
        'A' => [0x7E, 0x11, 0x11, 0x11, 0x7E],
        'B' => [0x7F, 0x49, 0x49, 0x49, 0x36],
        'C' => [0x3E, 0x41, 0x41, 0x41, 0x22],
        'D' => [0x7F, 0x41, 0x41, 0x22, 0x1C],
        'E' => [0x7F, 0x49, 0x49, 0x49, 0x41],
        'F' => [0x7F, 0x09, 0x09, 0x09, 0x01],
        'G' => [0x3E, 0x41, 0x49, 0x49, 0x7A],
        'H' => [0x7F, 0x08, 0x08, 0x08, 0x7F],
        'I' => [0x00, 0x41, 0x7F, 0x41, 0x00],
        'J' => [0x20, 0x40, 0x41, 0x3F, 0x01],
        'K' => [0x7F, 0x08, 0x14, 0x22, 0x41],
        'L' => [0x7F, 0x40, 0x40, 0x40, 0x40],
        'M' => [0x7F, 0x02, 0x0C, 0x02, 0x7F],
        'N' => [0x7F, 0x04, 0x08, 0x10, 0x7F],
        'O' => [0x3E, 0x41, 0x41, 0x41, 0x3E],
        'P' => [0x7F, 0x09, 0x09, 0x09, 0x06],
        'Q' => [0x3E, 0x41, 0x51, 0x21, 0x5E],
        'R' => [0x7F, 0x09, 0x19, 0x29, 0x46],
        'S' => [0x46, 0x49, 0x49, 0x49, 0x31],
        'T' => [0x01, 0x01, 0x7F, 0x01, 0x01],
        'U' => [0x3F, 0x40, 0x40, 0x40, 0x3F],
        'V' => [0x1F, 0x20, 0x40, 0x20, 0x1F],
        'W' => [0x3F, 0x40, 0x38, 0x40, 0x3F],
        'X' => [0x63, 0x14, 0x08, 0x14, 0x63],
        'Y' => [0x07, 0x08, 0x70, 0x08, 0x07],
        'Z' => [0x61, 0x51, 0x49, 0x45, 0x43],
        '.' => [0x00, 0x60, 0x60, 0x00, 0x00],
        ',' => [0x00, 0x50, 0x30, 0x00, 0x00],
        ':' => [0x00, 0x36, 0x36, 0x00, 0x00],
        '-' => [0x08, 0x08, 0x08, 0x08, 0x08],
        '+' => [0x08, 0x08, 0x3E, 0x08, 0x08],
        '=' => [0x14, 0x14, 0x14, 0x14, 0x14],
        '(' => [0x00, 0x1C, 0x22, 0x41, 0x00],
        ')' => [0x00, 0x41, 0x22, 0x1C, 0x00],
        '/' => [0x20, 0x10, 0x08, 0x04, 0x02],
        '_' => [0x40, 0x40, 0x40, 0x40, 0x40],
        '%' => [0x23, 0x13, 0x08, 0x64, 0x62],
        '|' => [0x00, 0x00, 0x7F, 0x00, 0x00],
        _ => [0x00; 5], // space and anything else
    }
}

impl Canvas {
    pub fn new(w: usize, h: usize) -> Self {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    /// Blend `c` over the pixel at (x, y) with opacity `a` (outside: nothing).
    pub fn blend(&mut self, x: i64, y: i64, c: Rgb, a: f64) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let i = (y as usize * self.w + x as usize) * 3;
        for (px, c) in self.px[i..i + 3].iter_mut().zip(c) {
            let old = *px as f64;
            *px = (old + (c as f64 - old) * a).round() as u8;
        }
    }

    pub fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb, a: f64) {
        for y in y0.min(y1)..y0.max(y1) {
            for x in x0.min(x1)..x0.max(x1) {
                self.blend(x, y, c, a);
            }
        }
    }

    /// A line `width` pixels thick (a square brush along the longer axis's steps).
    pub fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb, width: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as i64;
        let r = width / 2;
        for s in 0..=steps {
            let f = s as f64 / steps as f64;
            let (x, y) = (
                (x0 + f * (x1 - x0)).round() as i64,
                (y0 + f * (y1 - y0)).round() as i64,
            );
            self.fill(x - r, y - r, x - r + width, y - r + width, c, 1.0);
        }
    }

    /// A dashed horizontal line.
    pub fn dashed(&mut self, x0: i64, x1: i64, y: i64, c: Rgb) {
        for x in x0..x1 {
            if (x - x0) % 8 < 5 {
                self.blend(x, y, c, 1.0);
            }
        }
    }

    /// Width in pixels of `s` at `scale`.
    pub fn text_width(s: &str, scale: i64) -> i64 {
        s.chars().count() as i64 * 6 * scale
    }

    /// `s` with its top-left corner at (x, y); `vertical` turns it a quarter anticlockwise
    /// (reading upwards from (x, y) as its bottom-left).
    pub fn text(&mut self, x: i64, y: i64, s: &str, c: Rgb, scale: i64, vertical: bool) {
        for (k, ch) in s.chars().enumerate() {
            let g = glyph(ch);
            for (col, bits) in g.iter().enumerate() {
                for row in 0..7 {
                    if bits >> row & 1 == 1 {
                        let (u, v) = ((k as i64 * 6 + col as i64) * scale, row * scale);
                        let (px, py) = if vertical {
                            (x + v, y - u)
                        } else {
                            (x + u, y + v)
                        };
                        let (dx, dy) = if vertical {
                            (scale, -scale)
                        } else {
                            (scale, scale)
                        };
                        self.fill(px, py, px + dx, py + dy, c, 1.0);
                    }
                }
            }
        }
    }

    /// Encode as an 8-bit RGB PNG and write it atomically.
    pub fn write_png(&self, path: &str, flag: &str) -> Result<()> {
        if !path.ends_with(".png") {
            return Err(Error::invalid(flag, "must end in .png"));
        }
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc
                .write_header()
                .map_err(|e| Error::io(path, format!("PNG encoding failed: {e}")))?;
            writer
                .write_image_data(&self.px)
                .map_err(|e| Error::io(path, format!("PNG encoding failed: {e}")))?;
        }
        scorelab::npy::write_atomic(path, &bytes)
    }

    /// The pixel at (x, y), for tests.
    #[cfg(test)]
    pub fn at(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.w + x) * 3;
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_and_fills_land_where_asked() {
        let mut c = Canvas::new(40, 20);
        c.text(1, 1, "1", [0, 0, 0], 1, false);
        // '1' has its stem in column 2: rows 0..7
        assert_eq!(c.at(3, 4), [0, 0, 0]);
        assert_eq!(c.at(1, 4), [255, 255, 255]);
        c.line((10.0, 10.0), (30.0, 10.0), [255, 0, 0], 1);
        assert_eq!(c.at(20, 10), [255, 0, 0]);
        c.fill(0, 15, 40, 20, [0, 0, 255], 0.5);
        assert_eq!(c.at(5, 17), [128, 128, 255]);
        assert_eq!(Canvas::text_width("abc", 2), 36);
    }
}
