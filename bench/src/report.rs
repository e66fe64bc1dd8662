//! Running a workload three times and printing the median of each figure.

use std::fmt::Write as _;

/// The figures of one run of one configuration, in the order they are printed.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub updates_per_s: f64,
    /// Numeric figures (the median of each is printed).
    pub numbers: Vec<(&'static str, f64)>,
    /// Settings that describe the configuration (printed as they are).
    pub settings: Vec<(&'static str, String)>,
}

impl Figures {
    pub fn new(updates: usize, elapsed: std::time::Duration) -> Self {
        Figures {
            updates_per_s: updates as f64 / elapsed.as_secs_f64(),
            ..Default::default()
        }
    }

    pub fn number(mut self, key: &'static str, value: f64) -> Self {
        self.numbers.push((key, value));
        self
    }

    pub fn setting(mut self, key: &'static str, value: impl ToString) -> Self {
        self.settings.push((key, value.to_string()));
        self
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.numbers
            .iter()
            .find(|(k, _)| *k == key)
            .map(|&(_, v)| v)
    }
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median of every figure over the runs (each figure on its own).
pub fn median_of(runs: &[Figures]) -> Figures {
    let first = &runs[0];
    let mut ups: Vec<f64> = runs.iter().map(|r| r.updates_per_s).collect();
    Figures {
        updates_per_s: median(&mut ups),
        numbers: first
            .numbers
            .iter()
            .map(|&(key, _)| {
                let mut values: Vec<f64> = runs.iter().filter_map(|r| r.get(key)).collect();
                (key, median(&mut values))
            })
            .collect(),
        settings: first.settings.clone(),
    }
}

/// `bot-session W1 updates_per_s=... key=value ...`
pub fn line(workload: &str, figures: &Figures) -> String {
    line_of(workload, "updates_per_s", figures)
}

/// [`line`] with `rate` naming the first figure (`round_trips_per_s` for RTT).
pub fn line_of(workload: &str, rate: &str, figures: &Figures) -> String {
    let mut out = format!(
        "bot-session {workload} {rate}={}",
        format_number(figures.updates_per_s.round())
    );
    for (key, value) in &figures.numbers {
        let _ = write!(out, " {key}={}", format_number(*value));
    }
    for (key, value) in &figures.settings {
        let _ = write!(out, " {key}={value}");
    }
    out
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_are_taken_per_figure() {
        let runs = [
            Figures {
                updates_per_s: 3.0,
                numbers: vec![("a", 10.0)],
                settings: vec![("store", "memory".into())],
            },
            Figures {
                updates_per_s: 1.0,
                numbers: vec![("a", 30.0)],
                settings: vec![],
            },
            Figures {
                updates_per_s: 2.0,
                numbers: vec![("a", 20.0)],
                settings: vec![],
            },
        ];
        let m = median_of(&runs);
        assert_eq!(
            line("W9", &m),
            "bot-session W9 updates_per_s=2 a=20 store=memory"
        );
        assert_eq!(format_number(0.1), "0.100");
        assert_eq!(format_number(1234.56), "1234.6");
    }
}
