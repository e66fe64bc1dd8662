//! How numbers read to a person: durations, sizes, bytes in hex.

use std::fmt::Write as _;
use std::time::Duration;

/// `never`, `950ms`, `42s`, `3m05s`, `2h03m`, `4d02h`.
pub fn time_left(left: Option<Duration>) -> String {
    let Some(left) = left else {
        return "never".to_owned();
    };
    let secs = left.as_secs();
    match secs {
        0 => format!("{}ms", left.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// Milliseconds for JSON: `null` for never.
pub fn millis(left: Option<Duration>) -> Option<u64> {
    left.map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
}

/// `812 B`, `4.2 KiB`, `1.0 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Lowercase hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The bytes of lowercase or uppercase hex; `None` for anything else.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(time_left(None), "never");
        assert_eq!(time_left(Some(Duration::from_millis(950))), "950ms");
        assert_eq!(time_left(Some(Duration::from_secs(42))), "42s");
        assert_eq!(time_left(Some(Duration::from_secs(185))), "3m05s");
        assert_eq!(time_left(Some(Duration::from_secs(7380))), "2h03m");
        assert_eq!(
            time_left(Some(Duration::from_secs(4 * 86400 + 7200))),
            "4d02h"
        );
    }

    #[test]
    fn sizes_and_hex() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(4300), "4.2 KiB");
        assert_eq!(size(1 << 20), "1.0 MiB");
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00abFF"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
