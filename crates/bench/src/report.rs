//! The table: every run, the median of the runs, and the target each row is held to.

use std::time::Duration;

use crate::load::Measured;
use crate::setup::CpuPerEnvelope;

/// The settings the runs had.
pub struct Setting {
    pub prefetch: u16,
    pub in_flight: usize,
    pub sender_in_flight: usize,
    pub envelopes: usize,
    pub rate: u32,
    pub messages: usize,
    pub large_mib: usize,
    pub large_items: usize,
}

/// What one run measured.
pub struct Run {
    /// Null relay, envelopes/s.
    pub ceiling: f64,
    /// Naive consumer in the bench's process, envelopes/s.
    pub naive: f64,
    /// Naive consumer as issue 10 measured it (a Python script),
    /// envelopes/s: what the targets against a naive consumer hold to.
    pub naive_script: f64,
    /// ItemReserve on the branch of 5,000 lots, at saturation.
    pub item_reserve: Measured,
    /// Its CPU per envelope, the worker's and the database's.
    pub item_reserve_cpu: CpuPerEnvelope,
    /// ItemReserve on the branch of 100,000 lots, envelopes/s.
    pub large_branch: f64,
    /// RetailSales consuming the reservations, at saturation.
    pub retail_sales: Measured,
    /// Its CPU per envelope, the worker's and the database's.
    pub retail_sales_cpu: CpuPerEnvelope,
    /// ItemReserve at the fixed offered rate.
    pub paced: Measured,
    /// The null relay at the same rate, right after: what the broker alone
    /// adds to the latency in that minute.
    pub paced_broker: Measured,
    /// The large RetailSales, publish to receipt.
    pub large: Duration,
    /// The worker's peak RSS while answering it, over its body's size.
    pub large_rss_ratio: f64,
    /// The worker's peak RSS during the ItemReserve and RetailSales streams.
    pub peak_rss: u64,
    /// The worker's CPU during those streams, in cores.
    pub cpu: f64,
    /// The sender's baseline, messages/s.
    pub drain_baseline: f64,
    /// The sender's drain, messages/s.
    pub drain: f64,
    /// The drain of [`crate::BACKLOG`] times as many messages, messages/s.
    pub drain_backlog: f64,
}

/// The width of the labels' column: the longest label and a space.
const LABEL_WIDTH: usize = 38;

/// A row: its label, one value per run, how to print it, and its target.
struct Row {
    label: String,
    values: Vec<f64>,
    decimals: usize,
    target: Option<Target>,
}

#[derive(Clone, Copy)]
enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(bound) => value >= bound,
            Target::AtMost(bound) => value <= bound,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtLeast(bound) => format!(">= {bound}"),
            Target::AtMost(bound) => format!("<= {bound}"),
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn rows(setting: &Setting, runs: &[Run]) -> Vec<Row> {
    let row =
        |label: &str, decimals: usize, target: Option<Target>, value: &dyn Fn(&Run) -> f64| Row {
            label: label.to_owned(),
            values: runs.iter().map(value).collect(),
            decimals,
            target,
        };
    let mib = (1u64 << 20) as f64;
    vec![
        row("null relay ceiling, env/s", 0, None, &|run| run.ceiling),
        row("naive consumer (Python script), env/s", 0, None, &|run| {
            run.naive_script
        }),
        row("naive consumer (in process), env/s", 0, None, &|run| {
            run.naive
        }),
        row("ItemReserve, env/s", 0, None, &|run| run.item_reserve.rate),
        row("  / ceiling", 2, Some(Target::AtLeast(0.35)), &|run| {
            run.item_reserve.rate / run.ceiling
        }),
        row(
            "  / naive (Python script)",
            2,
            Some(Target::AtLeast(4.0)),
            &|run| run.item_reserve.rate / run.naive_script,
        ),
        row("  / naive (in process)", 2, None, &|run| {
            run.item_reserve.rate / run.naive
        }),
        row("  worker CPU per envelope, ms", 3, None, &|run| {
            run.item_reserve_cpu.worker
        }),
        row("  database CPU per envelope, ms", 3, None, &|run| {
            run.item_reserve_cpu.database
        }),
        row("RetailSales, env/s", 0, None, &|run| run.retail_sales.rate),
        row("  / ceiling", 2, Some(Target::AtLeast(0.30)), &|run| {
            run.retail_sales.rate / run.ceiling
        }),
        row(
            "  / naive (Python script)",
            2,
            Some(Target::AtLeast(4.0)),
            &|run| run.retail_sales.rate / run.naive_script,
        ),
        row("  / naive (in process)", 2, None, &|run| {
            run.retail_sales.rate / run.naive
        }),
        row("  worker CPU per envelope, ms", 3, None, &|run| {
            run.retail_sales_cpu.worker
        }),
        row("  database CPU per envelope, ms", 3, None, &|run| {
            run.retail_sales_cpu.database
        }),
        row("ItemReserve, 100,000 lots, env/s", 0, None, &|run| {
            run.large_branch
        }),
        row("  / 5,000 lots", 2, Some(Target::AtLeast(0.90)), &|run| {
            run.large_branch / run.item_reserve.rate
        }),
        row(
            &format!("latency at {}/s, p50 ms", setting.rate),
            1,
            None,
            &|run| ms(run.paced.p50),
        ),
        row(
            &format!("latency at {}/s, p95 ms", setting.rate),
            1,
            None,
            &|run| ms(run.paced.p95),
        ),
        row(
            &format!("latency at {}/s, p99 ms", setting.rate),
            1,
            Some(Target::AtMost(50.0)),
            &|run| ms(run.paced.p99),
        ),
        row("  broker alone (null relay), p99 ms", 1, None, &|run| {
            ms(run.paced_broker.p99)
        }),
        row("latency at saturation, p50 ms", 0, None, &|run| {
            ms(run.item_reserve.p50)
        }),
        row("latency at saturation, p95 ms", 0, None, &|run| {
            ms(run.item_reserve.p95)
        }),
        row("latency at saturation, p99 ms", 0, None, &|run| {
            ms(run.item_reserve.p99)
        }),
        row("sender baseline, msg/s", 0, None, &|run| run.drain_baseline),
        row("sender drain, msg/s", 0, None, &|run| run.drain),
        row("  / baseline", 2, Some(Target::AtLeast(0.30)), &|run| {
            run.drain / run.drain_baseline
        }),
        row(
            &format!("drain of {}, msg/s", setting.messages * crate::BACKLOG),
            0,
            None,
            &|run| run.drain_backlog,
        ),
        row(
            &format!("  / drain of {}", setting.messages),
            2,
            Some(Target::AtLeast(0.90)),
            &|run| run.drain_backlog / run.drain,
        ),
        row(
            &format!("{} MiB RetailSales, s", setting.large_mib),
            2,
            Some(Target::AtMost(1.0)),
            &|run| run.large.as_secs_f64(),
        ),
        row("  peak RSS / body", 2, Some(Target::AtMost(3.0)), &|run| {
            run.large_rss_ratio
        }),
        row(
            "worker peak RSS under load, MiB",
            0,
            Some(Target::AtMost(100.0)),
            &|run| run.peak_rss as f64 / mib,
        ),
        row("worker CPU under load, cores", 2, None, &|run| run.cpu),
    ]
}

/// Prints the table.
pub fn print(setting: &Setting, runs: &[Run]) {
    println!(
        "eai-bench: prefetch {}, {} in flight; {} envelopes per stream, ItemReserve of 3 items, \
         RetailSales of 3 items + 1 payment consuming its reservation; sender {} in flight, {} messages; \
         large sale {} items",
        setting.prefetch,
        setting.in_flight,
        setting.envelopes,
        setting.sender_in_flight,
        setting.messages,
        setting.large_items,
    );
    let mut header = format!("{:<LABEL_WIDTH$}", "");
    for number in 1..=runs.len() {
        header.push_str(&format!("{:>10}", format!("run {number}")));
    }
    header.push_str(&format!("{:>10}  {:<10} {}", "median", "target", "met"));
    println!("{header}");
    for row in rows(setting, runs) {
        let mut line = format!("{:<LABEL_WIDTH$}", row.label);
        for value in &row.values {
            line.push_str(&format!("{:>10.*}", row.decimals, value));
        }
        let median = median(&row.values);
        line.push_str(&format!("{:>10.*}", row.decimals, median));
        if let Some(target) = row.target {
            let met = if target.met(median) { "yes" } else { "NO" };
            line.push_str(&format!("  {:<10} {met}", target.text()));
        }
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_and_an_even_count() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn targets_bound_from_the_right_side() {
        assert!(Target::AtLeast(0.35).met(0.35));
        assert!(!Target::AtLeast(0.35).met(0.34));
        assert!(Target::AtMost(50.0).met(49.9));
        assert!(!Target::AtMost(50.0).met(50.1));
    }
}
