//! The traffic core's decision step for a whole fleet (`Core::tick` plus the fleet's status
//! reports of one step), per simulated step of 100 ms, at 100 and 1,000 AGVs on a generated
//! rack warehouse (8 nodes per AGV), measured inside a deterministic simulated run of 30 s;
//! beside it the naive baseline of the same run: each whole route reserved at once. 10,000
//! AGVs take minutes a run: that figure comes from `agv-sim virtual` (docs/performance.md).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

fn site_for(agvs: usize) -> maps::Site {
    let blocks = (agvs as f64 * 8.0 / 12.0).max(4.0);
    let by = (blocks / 2.0).sqrt().ceil().max(2.0) as u32;
    let bx = (blocks / f64::from(by)).ceil().max(2.0) as u32;
    maps::Site::compile(
        &maps::generate::rack_warehouse(bx, by, false),
        std::path::Path::new("."),
    )
    .expect("site")
}

fn bench(c: &mut Criterion) {
    for agvs in [100usize, 1_000] {
        let site = site_for(agvs);
        let mut g = c.benchmark_group(format!("core step/{agvs} AGVs"));
        g.sample_size(10);
        for (name, lookahead) in [("piecewise (ours)", 3), ("whole route (baseline)", 100_000)] {
            let cfg = traffic::sim::Config {
                agvs,
                duration_ms: 30_000,
                drain_ms: 0,
                tasks_per_hour: 30.0 * agvs as f64,
                check_every: 1_000_000,
                settings: traffic::Settings {
                    lookahead,
                    ..traffic::Settings::default()
                },
                ..traffic::sim::Config::default()
            };
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let r = traffic::sim::run(&site, &cfg, |_, _| {});
                        let steps = (r.simulated_s * 10.0).max(1.0);
                        total += Duration::from_secs_f64(r.core_cpu_s / steps);
                    }
                    total
                });
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
