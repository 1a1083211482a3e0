//! Route planning on a generated 3-floor, 10,092-node grid site (58 × 58 per floor, two lifts):
//! A* against plain Dijkstra (the baseline) on the same random node pairs, same-floor and
//! cross-floor. Besides criterion's means, prints p50/p99/max per query for each, measured over
//! 2,000 pairs.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use maps::{Planner, Site, Vehicle};

fn site() -> Site {
    Site::compile(
        &maps::generate::grid_site("bench", 3, 58, 58),
        Path::new("bench"),
    )
    .unwrap()
}

/// Deterministic pseudo-random pairs (xorshift).
fn pairs(site: &Site, n: usize, cross_floor: bool) -> Vec<(u32, u32)> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let nodes = site.nodes();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let a = &nodes[next() as usize % nodes.len()];
        let b = &nodes[next() as usize % nodes.len()];
        if (a.map != b.map) == cross_floor {
            out.push((a.id, b.id));
        }
    }
    out
}

fn percentiles(site: &Site, pairs: &[(u32, u32)], heuristic: bool) -> (f64, f64, f64) {
    let mut planner = Planner::new(site);
    planner.set_heuristic(heuristic);
    let v = Vehicle::default();
    let mut t: Vec<f64> = pairs
        .iter()
        .map(|&(a, b)| {
            let start = Instant::now();
            black_box(planner.route(a, b, &v).unwrap());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[t.len() / 2], t[t.len() * 99 / 100], *t.last().unwrap())
}

fn bench(c: &mut Criterion) {
    let site = site();
    assert_eq!(site.node_count(), 10_092);
    for (label, cross) in [("same-floor", false), ("cross-floor", true)] {
        let pairs = pairs(&site, 2_000, cross);
        for (name, h) in [("astar", true), ("dijkstra", false)] {
            let (p50, p99, max) = percentiles(&site, &pairs, h);
            println!("route/{label}/{name}: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs");
        }
        let mut group = c.benchmark_group(format!("route/{label}"));
        for (name, h) in [("astar", true), ("dijkstra", false)] {
            let mut planner = Planner::new(&site);
            planner.set_heuristic(h);
            let v = Vehicle::default();
            let mut i = 0;
            group.bench_function(name, |b| {
                b.iter(|| {
                    let (a, z) = pairs[i % pairs.len()];
                    i += 1;
                    black_box(planner.route(a, z, &v).unwrap())
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
