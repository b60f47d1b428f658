//! Benchmark: cold start of the release app to the bench screen, under Xvfb.
//!
//!     scripts/bench-cold-start          (starts Xvfb and a D-Bus session, then runs:)
//!     cargo bench -p returnhub --bench cold_start [-- --runs N]
//!
//! Each run launches the binary through tauri-driver + WebKitWebDriver with a fresh data dir
//! (so it also creates the store and seeds the demo), and stops the clock when the bench has
//! painted the demo connotes it fetched from the store. A second series reuses the data dir
//! (a warm store). The baseline is the same binary's `--version` (process start and exit,
//! no window) measured in the same run. Prints medians; asserts nothing about time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::Driver;

const APP: &str = env!("CARGO_BIN_EXE_returnhub");

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Launch to painted bench, in one fresh window.
fn time_to_bench(data_dir: &Path) -> Duration {
    let started = Instant::now();
    let driver = Driver::launch(Path::new(APP), data_dir);
    driver.wait_for(60, "the painted bench", |d| {
        d.find("#demo-connotes tbody tr").map(|_| ())
    });
    let elapsed = started.elapsed();
    drop(driver);
    elapsed
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; nothing to list here.
    }
    let runs = arg("--runs", 7);
    let mut fresh = Vec::new();
    let mut warm = Vec::new();
    let warm_dir = tempfile::tempdir().unwrap();
    time_to_bench(warm_dir.path()); // creates and seeds the warm store once
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        fresh.push(time_to_bench(dir.path()));
        warm.push(time_to_bench(warm_dir.path()));
    }
    let baseline: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let status = Command::new(APP).arg("--version").output().unwrap().status;
            assert!(status.success());
            t.elapsed()
        })
        .collect();
    let (fresh, warm, base) = (median(fresh), median(warm), median(baseline));
    println!("cold start to painted bench, release app under Xvfb ({runs} runs each):");
    println!("  first start (create store, seed demo): median {fresh:?}");
    println!("  later start (existing store):          median {warm:?}");
    println!("  baseline `returnhub --version`:        median {base:?}");
    println!(
        "  ratio later start / baseline: {:.0}x",
        warm.as_secs_f64() / base.as_secs_f64()
    );
    println!("(includes tauri-driver and WebKitWebDriver session setup)");
    // For scripts/bench: what | ours | baseline | ratio | goal.
    println!(
        "figure: app cold start to the painted bench (existing store) | {warm:.2?} | \
         `returnhub --version` {base:.2?} | {:.0}× | < 0.5 s",
        warm.as_secs_f64() / base.as_secs_f64()
    );
}
