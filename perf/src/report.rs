//! Benchmark results: one row per (bench, scenario, implementation), printed as a
//! human table or, with `--json`, as one JSON object per line in the shape every
//! ringex benchmark shares:
//! `{"bench","scenario","impl","ops_per_sec","p50_ns","p99_ns","p999_ns","max_ns"}`
//! (null where a field does not apply). Extra context goes in `params`.

use hdrhistogram::Histogram;
use serde::Serialize;

/// One measured result. Benchmarks build these and hand them to a [`Reporter`].
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Benchmark family, e.g. `ring`, `journal`.
    pub bench: String,
    /// Scenario inside the family, e.g. `unicast_1p1c`.
    pub scenario: String,
    /// Implementation measured, e.g. `ringex`, `disruptor`, `crossbeam`; include the
    /// wait strategy where it matters (`ringex/busy-spin`).
    #[serde(rename = "impl")]
    pub impl_name: String,
    /// Throughput in operations per second, when measured.
    pub ops_per_sec: Option<f64>,
    /// Median latency in nanoseconds, when measured.
    pub p50_ns: Option<u64>,
    /// 99th percentile latency in nanoseconds, when measured.
    pub p99_ns: Option<u64>,
    /// 99.9th percentile latency in nanoseconds, when measured.
    pub p999_ns: Option<u64>,
    /// Maximum latency in nanoseconds, when measured.
    pub max_ns: Option<u64>,
    /// Free-form parameters of the run (ring size, batch, record size, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

impl BenchResult {
    /// A throughput-only result.
    pub fn throughput(bench: &str, scenario: &str, impl_name: &str, ops_per_sec: f64) -> Self {
        BenchResult {
            bench: bench.to_string(),
            scenario: scenario.to_string(),
            impl_name: impl_name.to_string(),
            ops_per_sec: Some(ops_per_sec),
            p50_ns: None,
            p99_ns: None,
            p999_ns: None,
            max_ns: None,
            params: None,
        }
    }

    /// A result whose latency percentiles come from a histogram recorded in ns.
    pub fn from_histogram(
        bench: &str,
        scenario: &str,
        impl_name: &str,
        ops_per_sec: Option<f64>,
        hist: &Histogram<u64>,
    ) -> Self {
        let empty = hist.is_empty();
        let q = |p: f64| (!empty).then(|| hist.value_at_quantile(p));
        BenchResult {
            bench: bench.to_string(),
            scenario: scenario.to_string(),
            impl_name: impl_name.to_string(),
            ops_per_sec,
            p50_ns: q(0.50),
            p99_ns: q(0.99),
            p999_ns: q(0.999),
            max_ns: (!empty).then(|| hist.max()),
            params: None,
        }
    }

    /// Attaches run parameters.
    pub fn with_params(mut self, params: serde_json::Value) -> Self {
        self.params = Some(params);
        self
    }
}

/// A latency histogram in nanoseconds, 1 ns to 100 s, 3 significant digits: the
/// shape every ringex benchmark records into.
pub fn latency_histogram() -> Histogram<u64> {
    // 1 ns .. 100 s at 3 significant figures is a fixed, valid configuration.
    Histogram::new_with_bounds(1, 100_000_000_000, 3)
        .unwrap_or_else(|e| unreachable!("fixed histogram bounds are valid: {e}"))
}

/// Prints results as they arrive: JSON lines, or a table whose header is printed once.
pub struct Reporter {
    json: bool,
    header_printed: bool,
    results: Vec<BenchResult>,
}

impl Reporter {
    /// A reporter that prints JSON lines when `json` is true, else a table.
    pub fn new(json: bool) -> Self {
        Reporter {
            json,
            header_printed: false,
            results: Vec::new(),
        }
    }

    /// Records and prints one result.
    pub fn report(&mut self, r: BenchResult) {
        if self.json {
            match serde_json::to_string(&r) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("cannot serialize result: {e}"),
            }
        } else {
            if !self.header_printed {
                println!(
                    "{:<10} {:<28} {:<28} {:>14} {:>10} {:>10} {:>10} {:>12}",
                    "bench", "scenario", "impl", "ops/s", "p50 ns", "p99 ns", "p99.9 ns", "max ns"
                );
                self.header_printed = true;
            }
            println!(
                "{:<10} {:<28} {:<28} {:>14} {:>10} {:>10} {:>10} {:>12}",
                r.bench,
                r.scenario,
                r.impl_name,
                r.ops_per_sec.map_or("-".into(), fmt_rate),
                opt(r.p50_ns),
                opt(r.p99_ns),
                opt(r.p999_ns),
                opt(r.max_ns),
            );
        }
        self.results.push(r);
    }

    /// Prints a free-text line (a ratio summary, a note) in table mode only, so JSON
    /// output stays one object per line.
    pub fn note(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }

    /// Everything reported so far.
    pub fn results(&self) -> &[BenchResult] {
        &self.results
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The median of a set of measurements (for "median of N runs" summaries).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    Some(values[values.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_has_every_field_and_nulls() {
        let r = BenchResult::throughput("ring", "unicast_1p1c", "ringex", 1.5e6);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for k in [
            "bench",
            "scenario",
            "impl",
            "ops_per_sec",
            "p50_ns",
            "p99_ns",
            "p999_ns",
            "max_ns",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert!(v["p50_ns"].is_null());
        assert_eq!(v["impl"], "ringex");
    }

    #[test]
    fn histogram_percentiles_are_reported() {
        let mut h = latency_histogram();
        for i in 1..=1000u64 {
            h.record(i).unwrap();
        }
        let r = BenchResult::from_histogram("x", "y", "z", None, &h);
        assert!((495..=505).contains(&r.p50_ns.unwrap()));
        assert_eq!(r.max_ns, Some(1000));
    }

    #[test]
    fn median_of_runs() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
    }
}
