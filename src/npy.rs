//! `.npy` arrays in and out (NumPy format 1.0/2.0/3.0): float32 (float64 accepted on
//! input), little-endian, C order, rank 2 `[n, d]` (rank 1 and 3 where a caller asks).

use crate::error::{Error, Result};

/// A float array read from `.npy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Parse `.npy` bytes. `what` names the input in error messages (a path or flag).
pub fn parse(bytes: &[u8], what: &str) -> Result<Array> {
    let bad = |m: String| Error::invalid(what, m);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (missing the \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad(format!("unsupported .npy version {major}"))),
    };
    let header = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated or unreadable .npy header".into()))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))?;
        let rest = header[i + key.len() + 2..]
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next());
    let elem = match descr {
        Some("<f4") | Some("=f4") => 4,
        Some("<f8") | Some("=f8") => 8,
        Some(o) => {
            return Err(bad(format!(
                "dtype '{o}' is not accepted; use float32 (<f4) or float64 (<f8)"
            )))
        }
        None => return Err(bad("the .npy header has no 'descr'".into())),
    };
    if field("fortran_order")
        .map(|r| r.starts_with("True"))
        .unwrap_or(false)
    {
        return Err(bad(
            "Fortran-ordered arrays are not accepted; save in C order".into(),
        ));
    }
    let shape_s = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next());
    let shape: Vec<usize> = shape_s
        .ok_or_else(|| bad("the .npy header has no 'shape'".into()))?
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("bad shape entry '{s}'")))
        })
        .collect::<Result<_>>()?;
    let count: usize = shape
        .iter()
        .try_fold(1usize, |a, b| a.checked_mul(*b))
        .ok_or_else(|| bad("shape overflows".into()))?;
    let body = &bytes[start + hlen..];
    let need = count
        .checked_mul(elem)
        .ok_or_else(|| bad("shape overflows".into()))?;
    if body.len() != need {
        return Err(bad(format!(
            "header declares shape {shape:?} ({need} bytes) but the file has {} data bytes",
            body.len()
        )));
    }
    let data = if elem == 4 {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    Ok(Array { shape, data })
}

/// Read a `[n, d]` float array; `d` must equal `want_d` when given. Rejects NaN/Inf.
pub fn read_matrix(path: &str, want_d: Option<usize>) -> Result<Array> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let a = parse(&bytes, path)?;
    check_matrix(&a, path, want_d)?;
    Ok(a)
}

/// Validate rank, width, emptiness and finiteness of a `[n, d]` array.
pub fn check_matrix(a: &Array, what: &str, want_d: Option<usize>) -> Result<()> {
    if a.shape.len() != 2 {
        return Err(Error::invalid(
            what,
            format!("must be a 2-D array [n, d], got shape {:?}", a.shape),
        ));
    }
    if a.shape[0] == 0 {
        return Err(Error::invalid(what, "has no rows"));
    }
    if let Some(d) = want_d {
        if a.shape[1] != d {
            return Err(Error::invalid(
                what,
                format!(
                    "must have {d} columns (the model's dimension), got {}",
                    a.shape[1]
                ),
            ));
        }
    }
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            what,
            format!("row {} has a non-finite value", i / a.shape[1].max(1)),
        ));
    }
    Ok(())
}

/// Serialise float32 data with the given shape.
pub fn to_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in data {
        out.extend(v.to_le_bytes());
    }
    out
}

/// Write float32 `.npy` atomically: no partial file on failure.
pub fn write(path: &str, shape: &[usize], data: &[f32]) -> Result<()> {
    write_atomic(path, &to_bytes(shape, data))
}

/// Write bytes atomically: a temp file beside `path`, then rename (outputs and checkpoints).
pub fn write_atomic(path: &str, bytes: &[u8]) -> Result<()> {
    let tmp = format!("{path}.tmp-{}", std::process::id());
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let bytes = to_bytes(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        assert_eq!((bytes.len() - 6 * 4) % 64, 0);
        let a = parse(&bytes, "x").unwrap();
        assert_eq!(a.shape, vec![3, 2]);
        assert_eq!(a.data[5], 6.5);
        check_matrix(&a, "x", Some(2)).unwrap();
        assert!(check_matrix(&a, "x", Some(3))
            .unwrap_err()
            .to_string()
            .contains("must have 3 columns"));
        let one_d = parse(&to_bytes(&[4], &[1.0; 4]), "x").unwrap();
        assert!(check_matrix(&one_d, "x", None)
            .unwrap_err()
            .to_string()
            .contains("2-D"));
        let mut trunc = bytes.clone();
        trunc.truncate(bytes.len() - 3);
        assert!(parse(&trunc, "x")
            .unwrap_err()
            .to_string()
            .contains("data bytes"));
        let mut int = bytes.clone();
        let at = int.windows(3).position(|w| w == b"<f4").unwrap();
        int[at + 1] = b'i';
        assert!(parse(&int, "x")
            .unwrap_err()
            .to_string()
            .contains("dtype '<i4'"));
        assert!(parse(b"hello world", "x")
            .unwrap_err()
            .to_string()
            .contains("magic"));
    }
}
