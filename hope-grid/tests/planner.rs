//! The planner against exhaustive search on a simulated heavy-tailed grid, Glatard's timeout on a
//! distribution with a known answer, and dynamic mode against a naive static split when a tenth
//! of the jobs run on stragglers.
//!
//! Latency model of the checks (documented in BENCHMARKS.md): log-normal queue waits with a
//! median of 60 s and sigma 1.0, 5 % outliers waiting 20 times longer, 5 % lost jobs (never
//! start); 1,000 batches of 10 s (10,000 s of work); up to 200 jobs.
#![allow(clippy::unwrap_used, missing_docs)]

use hope_grid::latency::{LatencyModel, Stream, best_timeout};
use hope_grid::planner::{Request, plan};
use hope_grid::sim::{Cluster, mean};

fn heavy() -> LatencyModel {
    LatencyModel::Parametric {
        median_s: 60.0,
        sigma: 1.0,
        outlier_fraction: 0.05,
        outlier_factor: 20.0,
        lost_fraction: 0.05,
    }
}

#[test]
fn the_timeout_minimises_the_expected_wait_of_a_known_distribution() {
    // 90 % of jobs start after 10 s, 10 % never: with timeout t >= 10 s the expected wait is
    // (10 + 0.1 (t - 10)) / 0.9, least at t = 10 s: 11.11 s.
    let draws: Vec<f64> = (0..1000)
        .map(|i| if i % 10 == 0 { f64::INFINITY } else { 10.0 })
        .collect();
    let (t, e) = best_timeout(&draws);
    assert_eq!(t, 10.0);
    assert!((e - 10.0 / 0.9).abs() < 1e-9, "{e}");
    // Without lost jobs and with a light tail, no timeout beats waiting.
    let (t, e) = best_timeout(&[1.0, 2.0, 3.0]);
    assert!((e - 2.0).abs() < 1e-9 && t >= 3.0, "{t} {e}");
}

#[test]
fn the_planner_is_within_ten_percent_of_the_best_static_split() {
    let cluster = Cluster {
        latency: heavy(),
        speeds: vec![(1.0, 1.0)],
    };
    let req = Request {
        batches: 1000,
        seconds_per_batch: 10.0,
        max_jobs: 200,
        cluster: cluster.clone(),
        chunks_per_job: 4,
        replications: 100,
        seed: 1,
    };
    let choice = plan(&req).unwrap();
    assert!(choice.timeout_s.is_finite() && choice.timeout_s > 0.0);
    // Exhaustive search over every N with independent streams and more replications.
    let work = 10_000.0;
    let eval = |n: u32| {
        mean(300, 0xABCD + u64::from(n), |s| {
            cluster.static_makespan(work, n, choice.timeout_s, s)
        })
    };
    let (best_n, best) = (1..=200u32)
        .map(|n| (n, eval(n)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let chosen = eval(choice.jobs);
    println!(
        "planner N = {} ({chosen:.0} s), exhaustive best N = {best_n} ({best:.0} s), timeout {:.0} s",
        choice.jobs, choice.timeout_s
    );
    assert!(chosen <= 1.10 * best, "{chosen} vs {best}");
    // The planner's own estimate is close to the independent one.
    assert!((choice.static_makespan_s / chosen - 1.0).abs() < 0.15);
    // Deterministic: the same request, the same plan.
    assert_eq!(plan(&req).unwrap(), choice);
}

#[test]
fn dynamic_mode_beats_a_naive_static_split_when_a_tenth_are_stragglers() {
    // 100 cores, one job per core; 10 % of the jobs land on nodes 5 times slower.
    let cluster = Cluster {
        latency: LatencyModel::Parametric {
            median_s: 30.0,
            sigma: 0.5,
            outlier_fraction: 0.0,
            outlier_factor: 1.0,
            lost_fraction: 0.0,
        },
        speeds: vec![(1.0, 0.9), (0.2, 0.1)],
    };
    let work = 100.0 * 600.0;
    let naive = mean(300, 7, |s| {
        cluster.static_makespan(work, 100, f64::INFINITY, s)
    });
    let dynamic = mean(300, 8, |s| {
        cluster.dynamic_makespan(work, 100, 1000, f64::INFINITY, s)
    });
    println!(
        "naive static {naive:.0} s, dynamic {dynamic:.0} s: {:.2}x",
        naive / dynamic
    );
    assert!(naive / dynamic >= 1.5, "{naive} vs {dynamic}");
    // The stream is deterministic.
    let mut a = Stream::new(3);
    let mut b = Stream::new(3);
    assert_eq!(a.next_u64(), b.next_u64());
}
