//! The invariants, checked as the simulation runs: no two footprints overlap, no moving AGV
//! outside its reservations, no two AGVs' reservations overlap.

use geo::Intersects as _;
use maps::{Hold, Shape};

use super::SimReport;
use super::vehicle::{DIMS, SimAgv};
use crate::core::Core;

fn violation(report: &mut SimReport, text: String) {
    if report.violations.len() < 20 {
        report.violations.push(text);
    }
}

/// Footprints never overlap; a moving AGV stands on its own reservations.
pub(super) fn check(core: &Core<'_>, agvs: &[SimAgv], report: &mut SimReport, now: u64) {
    use rstar::{AABB, RTree, primitives::GeomWithData};
    let points: Vec<GeomWithData<[f64; 2], usize>> = agvs
        .iter()
        .enumerate()
        .map(|(i, a)| GeomWithData::new([a.x, a.y + f64::from(a.map) * 1e5], i))
        .collect();
    let tree = RTree::bulk_load(points);
    let reach = DIMS[0].max(DIMS[1]).hypot(DIMS[2].max(DIMS[3]));
    for (i, a) in agvs.iter().enumerate() {
        let p = [a.x, a.y + f64::from(a.map) * 1e5];
        let env = AABB::from_corners(
            [p[0] - 2.0 * reach, p[1] - 2.0 * reach],
            [p[0] + 2.0 * reach, p[1] + 2.0 * reach],
        );
        for hit in tree.locate_in_envelope(&env) {
            let j = hit.data;
            if j <= i {
                continue;
            }
            let b = &agvs[j];
            if a.map == b.map && a.footprint().intersects(&b.footprint()) {
                report.footprint_overlaps += 1;
                violation(
                    report,
                    format!(
                        "t={:.1}s AGVs {} and {} overlap at ({:.2}, {:.2}) / ({:.2}, {:.2})",
                        now as f64 / 1000.0,
                        a.id,
                        b.id,
                        a.x,
                        a.y,
                        b.x,
                        b.y
                    ),
                );
            }
        }
        // Outside its released space while driving.
        if a.online && a.moving {
            let holds = core.space().holds(a.id);
            let (s, c) = a.theta.sin_cos();
            let uncovered = [
                (0.0, 0.0),
                (0.5, 0.4),
                (0.5, -0.4),
                (-0.5, 0.4),
                (-0.5, -0.4),
            ]
            .iter()
            .filter(|(u, w)| {
                let pt = geo::Point::new(a.x + u * c - w * s, a.y + u * s + w * c);
                !holds.iter().any(|(h, m, shape)| {
                    matches!(h, Hold::Reservation { .. }) && *m == a.map && shape.intersects(&pt)
                })
            })
            .count();
            if uncovered > 0 {
                report.outside += 1;
                violation(
                    report,
                    format!(
                        "t={:.1}s AGV {} drives at ({:.2}, {:.2}) outside its reservations",
                        now as f64 / 1000.0,
                        a.id,
                        a.x,
                        a.y
                    ),
                );
            }
        }
    }
}

/// No two AGVs' reservations overlap (checked over the whole table).
pub fn check_reservations(core: &Core<'_>, report: &mut SimReport, now: u64) {
    use geo::BoundingRect as _;
    use rstar::{AABB, RTree, RTreeObject as _, primitives::GeomWithData, primitives::Rectangle};
    let entries: Vec<(u32, u16, &Shape)> = core
        .space()
        .all()
        .filter(|(_, _, h, _)| matches!(h, Hold::Reservation { .. }))
        .map(|(a, m, _, s)| (a, m, s))
        .collect();
    let rects: Vec<GeomWithData<Rectangle<[f64; 2]>, usize>> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, (_, m, s))| {
            let r = s.bounding_rect()?;
            let off = f64::from(*m) * 1e5;
            Some(GeomWithData::new(
                Rectangle::from_corners([r.min().x, r.min().y + off], [r.max().x, r.max().y + off]),
                i,
            ))
        })
        .collect();
    let tree = RTree::bulk_load(rects.clone());
    for r in &rects {
        let env: AABB<[f64; 2]> = r.geom().envelope();
        for hit in tree.locate_in_envelope_intersecting(&env) {
            let (i, j) = (r.data, hit.data);
            if j <= i {
                continue;
            }
            let (a, ma, sa) = entries[i];
            let (b, mb, sb) = entries[j];
            if a != b && ma == mb && sa.intersects(sb) {
                report.reservation_overlaps += 1;
                violation(
                    report,
                    format!(
                        "t={:.1}s reservations of AGVs {a} and {b} overlap on map {ma}",
                        now as f64 / 1000.0
                    ),
                );
            }
        }
    }
}
