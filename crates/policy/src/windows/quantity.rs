//! Kubernetes resource quantities, as far as the memory policy needs them: the value in
//! bytes and which suffix was used (so `300m`, millibytes, can be called out).

use std::fmt;

/// A parsed quantity.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    /// The value in base units (bytes for memory). Fractions are kept.
    pub value: f64,
    /// The suffix as written (`Mi`, `m`, `G`, `e3`, or empty).
    pub suffix: String,
}

impl Quantity {
    /// `m` (milli), `u` and `n` make memory quantities smaller than a byte per unit.
    pub fn is_millis(&self) -> bool {
        matches!(self.suffix.as_str(), "m" | "u" | "n")
    }

    pub fn bytes_ceil(&self) -> u64 {
        if self.value <= 0.0 {
            0
        } else if self.value >= u64::MAX as f64 {
            u64::MAX
        } else {
            self.value.ceil() as u64
        }
    }
}

/// Why a quantity could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityError(pub String);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid quantity {:?}: expected a number with an optional suffix (Ki, Mi, Gi, k, M, G, ...)",
            self.0
        )
    }
}

impl std::error::Error for QuantityError {}

/// Parses `300Mi`, `1.5Gi`, `800M`, `1e9`, `300m`.
pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
    let err = || QuantityError(s.to_owned());
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    if num.is_empty() || num == "+" || num == "-" || num.matches('.').count() > 1 {
        return Err(err());
    }
    let n: f64 = num.parse().map_err(|_| err())?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().map_err(|_| err())?;
            if !(-30..=30).contains(&exp) {
                return Err(err());
            }
            10f64.powi(exp)
        }
        _ => return Err(err()),
    };
    Ok(Quantity {
        value: n * mult,
        suffix: suffix.to_owned(),
    })
}

/// Formats bytes the way people write memory: `300Mi`, `1Gi`, else plain bytes.
pub fn format_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (u, n) in UNITS {
        if b >= n && b.is_multiple_of(n) {
            return format!("{}{u}", b / n);
        }
    }
    b.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("300Mi").unwrap().bytes_ceil(), 300 << 20);
        assert_eq!(parse("1.5Gi").unwrap().bytes_ceil(), 3 << 29);
        assert_eq!(parse("800M").unwrap().bytes_ceil(), 800_000_000);
        assert_eq!(parse("1e3").unwrap().bytes_ceil(), 1000);
        assert_eq!(parse("128974848").unwrap().bytes_ceil(), 128_974_848);
        let m = parse("300m").unwrap();
        assert!(m.is_millis());
        assert_eq!(m.bytes_ceil(), 1);
        for bad in ["", "Mi", "300MB", "1.2.3", "3 00Mi", "e3", "1e99"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(format_bytes(300 << 20), "300Mi");
        assert_eq!(format_bytes(1 << 30), "1Gi");
        assert_eq!(format_bytes(1000), "1000");
    }
}
