//! Points from CSV text: one row per line, cells separated by commas, semicolons or
//! whitespace; blank lines and `#` comments skipped; one header line allowed (a first line
//! that is not all numbers). The reader for `scorelab train --data FILE.csv`.

use crate::error::{Error, Result};

/// Parse `text` into row-major values and the row width. `what` names the source in errors
/// (the file's path).
pub fn parse(text: &str, what: &str) -> Result<(Vec<f64>, usize)> {
    let mut out = vec![];
    let mut width = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = line
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|c| !c.is_empty())
            .collect();
        let parsed: std::result::Result<Vec<f64>, _> =
            cells.iter().map(|c| c.parse::<f64>()).collect();
        let row = match parsed {
            Ok(r) => r,
            Err(_) if out.is_empty() && width.is_none() => continue, // a header
            Err(_) => {
                return Err(Error::invalid(
                    what,
                    format!("line {}: not numbers: '{line}'", i + 1),
                ))
            }
        };
        if row.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                what,
                format!("line {}: non-finite value", i + 1),
            ));
        }
        match width {
            None => width = Some(row.len()),
            Some(w) if w != row.len() => {
                return Err(Error::invalid(
                    what,
                    format!("line {}: {} columns, expected {w}", i + 1, row.len()),
                ))
            }
            _ => {}
        }
        out.extend(row);
    }
    match width {
        Some(w) if !out.is_empty() => Ok((out, w)),
        _ => Err(Error::invalid(what, "has no data rows")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn rows_headers_comments_and_separators() {
        let (v, w) = parse("x,y\n# a comment\n1, 2\n\n3;4\n5 6\n", "f.csv").unwrap();
        assert_eq!((v, w), (vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2));
    }

    #[test]
    fn bad_rows_name_the_line() {
        let e = |t: &str| parse(t, "f.csv").unwrap_err().to_string();
        assert!(e("1,2\n3\n").contains("line 2: 1 columns, expected 2"));
        assert!(e("1,2\n3,x\n").contains("line 2: not numbers"));
        assert!(e("1,2\n3,inf\n").contains("line 2: non-finite"));
        assert!(e("x,y\n").contains("has no data rows"));
    }
}
