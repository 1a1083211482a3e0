//! Grant and reservation decisions with 1,000 active AGVs on a 3-floor, 10,092-node site: each
//! AGV holds its footprint and, where free, the next nodes and edges eastward (up to five each).
//! Baseline: the same decision by scanning every held shape (no R-tree). Prints p50/p99/max per
//! decision over 5,000 random requests besides criterion's means. Then footprint updates of a
//! moving fleet, with the index's slack and without (baseline), and moved in place.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use geo::Intersects;
use maps::space::{corridor, disc, oriented_rect};
use maps::{Shape, Site, SpaceTable};

use criterion::{Criterion, criterion_group, criterion_main};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

fn fleet() -> (Site, SpaceTable) {
    let site = Site::compile(
        &maps::generate::grid_site("bench", 3, 58, 58),
        Path::new("bench"),
    )
    .unwrap();
    let mut table = SpaceTable::new(&site, 1);
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let drive: Vec<_> = site
        .edges()
        .iter()
        .filter(|e| e.kind == maps::EdgeKind::Drive)
        .collect();
    let mut placed = 0u32;
    while placed < 1_000 {
        let e = drive[rng.next() as usize % drive.len()];
        let (a, _) = site.ends(e);
        let n = site.node(a).unwrap();
        let agv = placed + 1;
        let fp = Shape::new(vec![oriented_rect(n.x, n.y, 0.0, 0.5, 0.5, 0.4, 0.4)]);
        if table.check(agv, n.map, &fp).is_err() {
            continue;
        }
        table.set_footprint(agv, n.map, fp);
        // reserve the next five nodes eastward and the edges between them
        let mut items = Vec::new();
        let mut prev = n;
        for k in 1..=5 {
            let Some(next) = site.node(a + k) else { break };
            if next.map != n.map || next.y != n.y {
                break;
            }
            items.push((
                u64::from(next.id),
                Shape::new(vec![disc(next.x, next.y, 0.65)]),
            ));
            items.push((
                (1 << 40) | u64::from(next.id),
                corridor(&[[prev.x, prev.y], [next.x, next.y]], 0.65),
            ));
            prev = next;
        }
        let _ = table.reserve(agv, n.map, &items);
        placed += 1;
    }
    (site, table)
}

fn linear_check(table: &SpaceTable, agv: u32, map: u16, shape: &Shape) -> bool {
    !table
        .all()
        .any(|(a, m, _, s)| a != agv && m == map && s.intersects(shape))
}

fn requests(n: usize) -> Vec<(u16, Shape)> {
    let mut rng = Rng(0xDEAD_BEEF_0042);
    (0..n)
        .map(|_| {
            let map = 1 + (rng.next() % 3) as u16;
            let (x, y) = (rng.f(1.0, 113.0), rng.f(1.0, 113.0));
            (map, Shape::new(vec![disc(x, y, rng.f(0.5, 2.0))]))
        })
        .collect()
}

fn percentiles(mut t: Vec<f64>) -> (f64, f64, f64) {
    t.sort_by(f64::total_cmp);
    (t[t.len() / 2], t[t.len() * 99 / 100], *t.last().unwrap())
}

fn bench(c: &mut Criterion) {
    let (_site, mut table) = fleet();
    let held = table.all().count();
    let reqs = requests(5_000);
    println!("fleet: 1,000 AGVs, {held} held shapes");
    // grant decision: check, insert, then give back (the table returns to the same state)
    let mut granted = 0;
    let t: Vec<f64> = reqs
        .iter()
        .map(|(map, shape)| {
            let start = Instant::now();
            let r = table.grant(5_000, *map, *map, shape.clone(), 0, 10_000);
            let el = start.elapsed().as_secs_f64() * 1e6;
            if let Ok(g) = r {
                granted += 1;
                table.end_grant(g.id);
            }
            el
        })
        .collect();
    let (p50, p99, max) = percentiles(t);
    println!(
        "grant/rtree: p50 {p50:.2} µs, p99 {p99:.2} µs, max {max:.2} µs ({granted} of {} granted)",
        reqs.len()
    );
    let t: Vec<f64> = reqs
        .iter()
        .map(|(map, shape)| {
            let start = Instant::now();
            black_box(linear_check(&table, 5_000, *map, shape));
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let (p50, p99, max) = percentiles(t);
    println!("check/linear-scan (baseline): p50 {p50:.2} µs, p99 {p99:.2} µs, max {max:.2} µs");

    let mut group = c.benchmark_group("space");
    let mut i = 0;
    group.bench_function("grant+end/rtree", |b| {
        b.iter(|| {
            let (map, shape) = &reqs[i % reqs.len()];
            i += 1;
            if let Ok(g) = table.grant(5_000, *map, *map, shape.clone(), 0, 10_000) {
                table.end_grant(g.id);
            }
        })
    });
    group.bench_function("check/rtree", |b| {
        b.iter(|| {
            let (map, shape) = &reqs[i % reqs.len()];
            i += 1;
            black_box(table.check(5_000, *map, shape).is_ok())
        })
    });
    group.bench_function("check/linear-scan", |b| {
        b.iter(|| {
            let (map, shape) = &reqs[i % reqs.len()];
            i += 1;
            black_box(linear_check(&table, 5_000, *map, shape))
        })
    });
    group.finish();

    // Footprint updates: every AGV reports a pose 10 cm east of its last, 20 times, then back
    // (a moving fleet's status reports); the index's slack (ours) against none (baseline: the
    // R-tree changes on every report), in the same run.
    let mut group = c.benchmark_group("footprint");
    // Then the slack's rectangle moved in place (`set_footprint_rect`, what a report does
    // now) against a new shape each report (`set_footprint`), in the same run.
    for (name, slack, in_place) in [
        ("slack-0.25m", maps::space::FOOTPRINT_SLACK, false),
        ("no-slack", 0.0, false),
        ("slack-0.25m/in-place", maps::space::FOOTPRINT_SLACK, true),
    ] {
        let (_site, mut table) = fleet();
        table.footprint_slack = slack;
        let poses: Vec<(u32, u16, f64, f64)> = (1..=1_000)
            .filter_map(|agv| {
                let (map, shape) = table.footprint(agv)?;
                let r = maps::space::extent(shape)?;
                Some((agv, map, (r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0))
            })
            .collect();
        let mut k = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                let (agv, map, x, y) = poses[k % poses.len()];
                let step = (k / poses.len()) % 20;
                k += 1;
                let x = x + 0.1 * step as f64;
                if in_place {
                    black_box(table.set_footprint_rect(agv, map, [x, y, 0.0], [0.5, 0.5, 0.4, 0.4]))
                } else {
                    let fp = oriented_rect(x, y, 0.0, 0.5, 0.5, 0.4, 0.4);
                    black_box(table.set_footprint(agv, map, Shape::new(vec![fp])))
                }
            })
        });
    }
    group.finish();

    // Piece shapes (the traffic core builds one per node and edge piece it has not cached): a
    // straight edge's corridor built as now (each ring one exact-size allocation) against the
    // rings collected and closed by `geo` (the vector doubled when the ring was closed), in the
    // same run; the bytes each keeps are in docs/performance.md.
    let mut group = c.benchmark_group("piece");
    let points = [[1.0, 2.0], [3.0, 2.5]];
    group.bench_function("corridor/exact", |b| {
        b.iter(|| black_box(maps::space::corridor(black_box(&points), 0.55)))
    });
    group.bench_function("corridor/geo-closed", |b| {
        b.iter(|| black_box(geo_closed_corridor(black_box(&points), 0.55)))
    });
    group.finish();
}

/// The corridor as it was built before (baseline): rings collected from points and closed by
/// `geo::Polygon::new`, parts pushed into a growing vector.
fn geo_closed_corridor(points: &[[f64; 2]], r: f64) -> Shape {
    use geo::{Coord, LineString, Polygon};
    let ring = |pts: &[[f64; 2]]| {
        Polygon::new(
            LineString::from(
                pts.iter()
                    .map(|p| Coord { x: p[0], y: p[1] })
                    .collect::<Vec<_>>(),
            ),
            vec![],
        )
    };
    // the corner directions computed once, as the library does
    static UNIT: std::sync::LazyLock<(f64, [(f64, f64); 8])> = std::sync::LazyLock::new(|| {
        let outer = (std::f64::consts::PI / 8.0).cos();
        let unit = std::array::from_fn(|i| (std::f64::consts::TAU * i as f64 / 8.0).sin_cos());
        (outer, unit.map(|(s, c)| (c, s)))
    });
    let disc = |x: f64, y: f64| {
        let (outer, unit) = &*UNIT;
        let pts: Vec<[f64; 2]> = unit
            .iter()
            .map(|(c, s)| [x + r / outer * c, y + r / outer * s])
            .collect();
        ring(&pts)
    };
    let mut parts = Vec::new();
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = (b[0] - a[0]).hypot(b[1] - a[1]);
        let theta = (b[1] - a[1]).atan2(b[0] - a[0]);
        parts.push(ring(&maps::space::rect_corners(
            a[0], a[1], theta, len, 0.0, r, r,
        )));
    }
    for p in points {
        parts.push(disc(p[0], p[1]));
    }
    Shape::new(parts)
}

criterion_group!(benches, bench);
criterion_main!(benches);
