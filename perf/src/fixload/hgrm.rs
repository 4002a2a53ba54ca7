//! Writes a histogram's percentile distribution in HdrHistogram's classic text
//! format (`.hgrm`, what `outputPercentileDistribution` prints and the
//! HdrHistogram plotter reads): a `Value Percentile TotalCount 1/(1-Percentile)`
//! table walked in percentile ticks that halve the distance to 100 %, then the
//! mean/stddev/max/count/bucket footer. The `hdrhistogram` crate offers the
//! iteration but no writer for this format.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Writes `hist` (values in ns) with values divided by `unit_ns` (1000.0 writes
/// microseconds, the usual unit of .hgrm files), `ticks` percentile steps per
/// half distance (5 in HdrHistogram's own output).
pub fn write_hgrm<W: Write>(
    hist: &Histogram<u64>,
    unit_ns: f64,
    ticks: u32,
    out: &mut W,
) -> io::Result<()> {
    let scale = if unit_ns > 0.0 { unit_ns } else { 1.0 };
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    if !hist.is_empty() {
        for v in hist.iter_quantiles(ticks.max(1)) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / scale;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                writeln!(
                    out,
                    "{value:>12.3} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{value:>12.3} {q:>2.12} {total:>10}")?;
            }
        }
    }
    let (mean, stdev, max) = if hist.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            hist.mean() / scale,
            hist.stdev() / scale,
            hist.max() as f64 / scale,
        )
    };
    // HdrHistogram's sub-bucket count: the power of two holding 2 x 10^sigfig.
    let sub_buckets = (2 * 10u64.pow(u32::from(hist.sigfig()))).next_power_of_two();
    writeln!(
        out,
        "#[Mean    = {mean:>12.3}, StdDeviation   = {stdev:>12.3}]"
    )?;
    writeln!(
        out,
        "#[Max     = {max:>12.3}, Total count    = {:>12}]",
        hist.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        hist.buckets(),
        sub_buckets
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::latency_histogram;

    fn parse_rows(text: &str) -> Vec<(f64, f64, u64)> {
        text.lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                (
                    c[0].parse().unwrap(),
                    c[1].parse().unwrap(),
                    c[2].parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn table_is_monotone_and_ends_at_the_max() {
        let mut h = latency_histogram();
        for i in 1..=10_000u64 {
            h.record(i * 1000).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&h, 1000.0, 5, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        let rows = parse_rows(&text);
        assert!(rows.len() > 50);
        for w in rows.windows(2) {
            assert!(w[1].0 >= w[0].0 && w[1].1 >= w[0].1 && w[1].2 >= w[0].2);
        }
        let last = rows.last().unwrap();
        assert_eq!(last.1, 1.0);
        assert_eq!(last.2, 10_000);
        assert!((last.0 - 10_000.0).abs() / 10_000.0 < 0.001);
        // The median row sits near 5000 us.
        let med = rows.iter().find(|r| r.1 >= 0.5).unwrap();
        assert!((4990.0..=5010.0).contains(&med.0), "{med:?}");
        assert!(text.contains("#[Max     ="));
        assert!(text.contains("Total count    =        10000]"));
        assert!(text.contains("SubBuckets     =         2048]"));
    }

    #[test]
    fn empty_histogram_writes_header_and_footer() {
        let h = latency_histogram();
        let mut out = Vec::new();
        write_hgrm(&h, 1000.0, 5, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(parse_rows(&text).is_empty());
        assert!(text.contains("Total count    =            0]"));
    }
}
