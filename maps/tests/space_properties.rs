//! The safety invariant of the space table, by brute force over random operations: no two
//! AGVs ever hold intersecting reservations or grants, none touches a forbidden area, and any
//! overlap involving a footprint was reported when that footprint was set (footprints are
//! facts: an AGV that moved where it should not is an alarm, not a refusal).

use std::collections::HashMap;
use std::path::Path;

use geo::{Area, Intersects};
use maps::space::{corridor, disc, oriented_rect, polygon};
use maps::{Conflict, Hold, Shape, Site, SpaceTable};
use proptest::prelude::*;

fn site() -> &'static Site {
    static SITE: std::sync::OnceLock<Site> = std::sync::OnceLock::new();
    SITE.get_or_init(|| {
        Site::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sites/demo")).unwrap()
    })
}

#[derive(Debug, Clone)]
enum Op {
    Footprint {
        agv: u32,
        x: f64,
        y: f64,
        theta: f64,
    },
    /// The AGV's footprint a few centimetres on (a moving AGV's next report).
    Nudge {
        agv: u32,
        dx: f64,
        dy: f64,
        dtheta: f64,
    },
    ReserveNode {
        agv: u32,
        node: usize,
    },
    ReserveEdge {
        agv: u32,
        edge: usize,
    },
    Grant {
        agv: u32,
        x: f64,
        y: f64,
        r: f64,
    },
    ReleaseAll {
        agv: u32,
    },
    EndGrant {
        nth: usize,
    },
    Clear {
        agv: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let agv = 1u32..6;
    prop_oneof![
        (agv.clone(), -1.0f64..22.0, -1.0f64..13.0, -3.2f64..3.2)
            .prop_map(|(agv, x, y, theta)| Op::Footprint { agv, x, y, theta }),
        (agv.clone(), -0.3f64..0.3, -0.3f64..0.3, -0.2f64..0.2).prop_map(
            |(agv, dx, dy, dtheta)| Op::Nudge {
                agv,
                dx,
                dy,
                dtheta
            }
        ),
        (agv.clone(), 0usize..40).prop_map(|(agv, node)| Op::ReserveNode { agv, node }),
        (agv.clone(), 0usize..200).prop_map(|(agv, edge)| Op::ReserveEdge { agv, edge }),
        (agv.clone(), -1.0f64..22.0, -1.0f64..13.0, 0.2f64..3.0)
            .prop_map(|(agv, x, y, r)| Op::Grant { agv, x, y, r }),
        agv.clone().prop_map(|agv| Op::ReleaseAll { agv }),
        (0usize..8).prop_map(|nth| Op::EndGrant { nth }),
        agv.prop_map(|agv| Op::Clear { agv }),
    ]
}

const R: f64 = 0.65; // an AGV's circumscribed radius

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_two_agvs_hold_overlapping_space(ops in proptest::collection::vec(op(), 1..60)) {
        let site = site();
        let mut table = SpaceTable::new(site, 1);
        let forbidden: Vec<_> = site.maps()[0]
            .areas
            .iter()
            .filter(|a| a.kind == maps::file::AreaKind::Forbidden)
            .map(|a| a.polygon.clone())
            .collect();
        // when each hold was created, and what its footprint reported
        let mut born: HashMap<(u32, Hold), usize> = HashMap::new();
        let mut reported: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut poses: HashMap<u32, (f64, f64, f64)> = HashMap::new();
        for (step, op) in ops.iter().enumerate() {
            let op = match op.clone() {
                Op::Nudge { agv, dx, dy, dtheta } => match poses.get(&agv) {
                    Some((x, y, theta)) => Op::Footprint { agv, x: x + dx, y: y + dy, theta: theta + dtheta },
                    None => continue,
                },
                op => op,
            };
            match op {
                Op::Nudge { .. } => unreachable!("turned into a footprint"),
                Op::Footprint { agv, x, y, theta } => {
                    poses.insert(agv, (x, y, theta));
                    let shape = Shape::new(vec![oriented_rect(x, y, theta, 0.5, 0.5, 0.4, 0.4)]);
                    let overlaps = table.set_footprint(agv, 1, shape);
                    born.insert((agv, Hold::Footprint), step);
                    reported.insert(agv, overlaps);
                }
                Op::ReserveNode { agv, node } => {
                    let n = &site.nodes()[node];
                    let shape = Shape::new(vec![disc(n.x, n.y, R)]);
                    if table.reserve(agv, 1, &[(u64::from(n.id), shape)]).is_ok() {
                        born.entry((agv, Hold::Reservation { resource: u64::from(n.id) })).or_insert(step);
                    }
                }
                Op::ReserveEdge { agv, edge } => {
                    let drive: Vec<_> = site.edges().iter().filter(|e| e.kind == maps::EdgeKind::Drive).collect();
                    let e = drive[edge % drive.len()];
                    let resource = (1u64 << 40) | u64::from(e.id);
                    let result = table.reserve(agv, 1, &[(resource, corridor(&e.polyline, R))]);
                    if e.blocked {
                        prop_assert!(matches!(result, Err(Conflict::Forbidden { .. })), "a blocked edge was reserved");
                    }
                    if result.is_ok() {
                        born.entry((agv, Hold::Reservation { resource })).or_insert(step);
                    }
                }
                Op::Grant { agv, x, y, r } => {
                    let shape = Shape::new(vec![disc(x, y, r)]);
                    if let Ok(g) = table.grant(agv, 1, 1, shape.clone(), 1_000, 10_000) {
                        prop_assert!(shape.unsigned_area() <= table.limits.max_area_m2);
                        born.insert((agv, Hold::Grant { id: g.id }), step);
                    }
                }
                Op::ReleaseAll { agv } => {
                    table.release_reservations(agv, |_| true);
                }
                Op::EndGrant { nth } => {
                    if let Some(g) = table.grants().get(nth) {
                        let id = g.id;
                        prop_assert!(table.end_grant(id).is_some());
                    }
                }
                Op::Clear { agv } => {
                    table.clear_footprint(agv);
                    poses.remove(&agv);
                }
            }
            // brute force over every pair of holds
            let all: Vec<_> = table.all().collect();
            for (a, _, ha, sa) in &all {
                if *ha != Hold::Footprint {
                    for f in &forbidden {
                        prop_assert!(!f.intersects(*sa), "{:?} of AGV {} touches a forbidden area", ha, a);
                    }
                }
                for (b, _, hb, sb) in &all {
                    if a == b || !sa.intersects(*sb) {
                        continue;
                    }
                    prop_assert!(
                        *ha == Hold::Footprint || *hb == Hold::Footprint,
                        "AGV {} {:?} and AGV {} {:?} overlap", a, ha, b, hb
                    );
                    // the footprint set last must have reported the other AGV
                    let (fa, fb) = (born[&(*a, *ha)], born[&(*b, *hb)]);
                    let (foot_agv, other, foot_born, other_born) = if *ha == Hold::Footprint && (fa >= fb || *hb != Hold::Footprint) {
                        (*a, *b, fa, fb)
                    } else {
                        (*b, *a, fb, fa)
                    };
                    prop_assert!(foot_born >= other_born);
                    prop_assert!(
                        reported.get(&foot_agv).is_some_and(|r| r.contains(&other)),
                        "the overlap of AGV {}'s footprint with AGV {} was not reported", foot_agv, other
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A footprint moved in place (`set_footprint_rect`: a moving AGV's report allocates no
    /// shape) leaves the table exactly as the same rectangle set as a new shape does: the same
    /// holds and shapes, the same overlaps reported, the same answers to checks.
    #[test]
    fn a_footprint_moved_in_place_decides_as_a_new_shape(
        ops in proptest::collection::vec(op(), 1..60),
        probes in proptest::collection::vec((-1.0f64..22.0, -1.0f64..13.0, 0.2f64..2.0), 4),
    ) {
        let site = site();
        let (mut shaped, mut moved) = (SpaceTable::new(site, 1), SpaceTable::new(site, 1));
        let mut poses: HashMap<u32, (f64, f64, f64)> = HashMap::new();
        let dims = [0.5, 0.5, 0.4, 0.4];
        for op in ops {
            let op = match op {
                Op::Nudge { agv, dx, dy, dtheta } => match poses.get(&agv) {
                    Some((x, y, theta)) => Op::Footprint { agv, x: x + dx, y: y + dy, theta: theta + dtheta },
                    None => continue,
                },
                op => op,
            };
            let mut reported = [Vec::new(), Vec::new()];
            for (i, table) in [&mut shaped, &mut moved].into_iter().enumerate() {
                match op {
                    Op::Footprint { agv, x, y, theta } => {
                        poses.insert(agv, (x, y, theta));
                        reported[i] = if i == 1 {
                            table.set_footprint_rect(agv, 1, [x, y, theta], dims)
                        } else {
                            let shape = Shape::new(vec![oriented_rect(x, y, theta, 0.5, 0.5, 0.4, 0.4)]);
                            table.set_footprint(agv, 1, shape)
                        };
                    }
                    Op::ReserveNode { agv, node } => {
                        let n = &site.nodes()[node];
                        let _ = table.reserve(agv, 1, &[(u64::from(n.id), Shape::new(vec![disc(n.x, n.y, R)]))]);
                    }
                    Op::ReserveEdge { agv, edge } => {
                        let drive: Vec<_> = site.edges().iter().filter(|e| e.kind == maps::EdgeKind::Drive).collect();
                        let e = drive[edge % drive.len()];
                        let _ = table.reserve(agv, 1, &[((1u64 << 40) | u64::from(e.id), corridor(&e.polyline, R))]);
                    }
                    Op::Grant { agv, x, y, r } => {
                        let _ = table.grant(agv, 1, 1, Shape::new(vec![disc(x, y, r)]), 1_000, 10_000);
                    }
                    Op::ReleaseAll { agv } => {
                        table.release_reservations(agv, |_| true);
                    }
                    Op::EndGrant { nth } => {
                        if let Some(id) = table.grants().get(nth).map(|g| g.id) {
                            table.end_grant(id);
                        }
                    }
                    Op::Clear { agv } => {
                        table.clear_footprint(agv);
                        poses.remove(&agv);
                    }
                    Op::Nudge { .. } => unreachable!("turned into a footprint"),
                }
            }
            prop_assert_eq!(&reported[0], &reported[1]);
            let mut a: Vec<_> = shaped.all().map(|(agv, map, hold, s)| (agv, map, format!("{hold:?}"), s.clone())).collect();
            let mut b: Vec<_> = moved.all().map(|(agv, map, hold, s)| (agv, map, format!("{hold:?}"), s.clone())).collect();
            a.sort_by(|x, y| (x.0, &x.2).cmp(&(y.0, &y.2)));
            b.sort_by(|x, y| (x.0, &x.2).cmp(&(y.0, &y.2)));
            prop_assert_eq!(a, b);
            for agv in 1..6 {
                prop_assert_eq!(shaped.footprint_overlaps(agv), moved.footprint_overlaps(agv));
            }
            for &(x, y, r) in &probes {
                let probe = Shape::new(vec![disc(x, y, r)]);
                prop_assert_eq!(format!("{:?}", shaped.check(9, 1, &probe)), format!("{:?}", moved.check(9, 1, &probe)));
            }
        }
    }
}

#[test]
fn grants_respect_maps_limits_and_each_other() {
    let site = site();
    let mut t = SpaceTable::new(site, 7);
    let circle = |x: f64, y: f64, r: f64| Shape::new(vec![disc(x, y, r)]);
    // another AGV stands at (3, 3)
    t.set_footprint(
        2,
        1,
        Shape::new(vec![oriented_rect(3.0, 3.0, 0.0, 0.5, 0.5, 0.4, 0.4)]),
    );
    assert_eq!(
        t.grant(1, 1, 1, circle(3.5, 3.0, 1.0), 0, 5_000),
        Err(Conflict::Occupied { agv: 2 })
    );
    let g = t.grant(1, 1, 1, circle(15.0, 9.0, 1.0), 0, 5_000).unwrap();
    assert_eq!(g.id, 7);
    // the same space for a third AGV: denied, naming the grant
    assert_eq!(
        t.grant(3, 1, 1, circle(15.5, 9.0, 1.0), 0, 5_000),
        Err(Conflict::Granted { agv: 1, grant: 7 })
    );
    // and nobody is released into it
    assert_eq!(
        t.reserve(3, 1, &[(1, circle(15.0, 10.0, 0.5))]),
        Err(Conflict::Granted { agv: 1, grant: 7 })
    );
    assert_eq!(
        t.grant(1, 2, 1, circle(5.0, 9.0, 1.0), 0, 5_000),
        Err(Conflict::WrongMap)
    );
    assert_eq!(
        t.grant(1, 1, 1, circle(5.0, 9.0, 4.0), 0, 5_000),
        Err(Conflict::TooLarge)
    );
    assert_eq!(
        t.grant(1, 1, 1, circle(5.0, 9.0, 1.0), 0, 600_000),
        Err(Conflict::TooLarge)
    );
    assert_eq!(
        t.grant(1, 1, 1, circle(21.5, 9.0, 1.0), 0, 5_000),
        Err(Conflict::TooLarge),
        "off the map"
    );
    assert!(matches!(
        t.grant(1, 1, 1, circle(10.5, 4.5, 0.5), 0, 5_000),
        Err(Conflict::Forbidden { area: 1 })
    ));
    // expiry, then the space is free again
    assert_eq!(t.expired(4_999), vec![]);
    assert_eq!(t.expired(5_000), vec![(7, 1)]);
    t.end_grant(7).unwrap();
    assert!(t.grant(3, 1, 1, circle(15.5, 9.0, 1.0), 0, 5_000).is_ok());
    // an AGV's own footprint never blocks it
    t.set_footprint(
        4,
        1,
        Shape::new(vec![oriented_rect(6.0, 6.0, 0.0, 0.5, 0.5, 0.4, 0.4)]),
    );
    assert!(t.grant(4, 1, 1, circle(6.0, 6.0, 1.0), 0, 1_000).is_ok());
}

/// A footprint reported again with the same bounding box but another shape (a standing AGV
/// turning a triangle's point, or a box the same extent) is the new shape in every decision.
#[test]
fn a_footprint_with_the_same_box_and_another_shape_replaces_the_old() {
    let mut t = SpaceTable::new(site(), 1);
    // two triangles filling opposite halves of the square (2..4, 2..4)
    let lower = Shape::new(vec![polygon(&[[2.0, 2.0], [4.0, 2.0], [4.0, 4.0]])]);
    let upper = Shape::new(vec![polygon(&[[2.0, 2.0], [4.0, 4.0], [2.0, 4.0]])]);
    let near_lower = Shape::new(vec![disc(3.6, 2.4, 0.2)]);
    let near_upper = Shape::new(vec![disc(2.4, 3.6, 0.2)]);
    assert!(t.set_footprint(1, 1, lower).is_empty());
    assert_eq!(
        t.check(2, 1, &near_lower),
        Err(Conflict::Occupied { agv: 1 })
    );
    assert!(t.check(2, 1, &near_upper).is_ok());
    assert!(t.set_footprint(1, 1, upper.clone()).is_empty());
    assert!(t.check(2, 1, &near_lower).is_ok(), "the old shape is gone");
    assert_eq!(
        t.check(2, 1, &near_upper),
        Err(Conflict::Occupied { agv: 1 })
    );
    // another AGV standing where the new shape is gets the overlap reported, both ways
    assert_eq!(t.set_footprint(2, 1, near_upper.clone()), vec![1]);
    assert_eq!(t.set_footprint(1, 1, upper), vec![2]);
    assert_eq!(t.footprint_overlaps(2), vec![1]);
    // the same box on another map moves it there
    assert!(
        t.set_footprint(
            1,
            2,
            Shape::new(vec![polygon(&[[2.0, 2.0], [4.0, 2.0], [4.0, 4.0]])])
        )
        .is_empty()
    );
    assert!(
        t.check(3, 1, &near_upper).is_err(),
        "AGV 2 still stands there"
    );
    assert_eq!(t.footprint_overlaps(2), Vec::<u32>::new());
    assert_eq!(t.footprint(1).map(|f| f.0), Some(2));
    assert_eq!(t.all().filter(|e| e.0 == 1).count(), 1, "one footprint");
}

/// Checked beside an AGV, a shape is free of what that AGV holds (its footprint, reservations
/// and grants) but of nobody else's: the node of an AGV about to leave it, for the next of a
/// chain of moves.
#[test]
fn checked_beside_an_agv_only_what_that_agv_holds_is_ignored() {
    let mut t = SpaceTable::new(site(), 1);
    let node = disc(3.0, 3.0, 0.8);
    let here = Shape::new(vec![disc(3.0, 3.0, 0.6)]);
    t.set_footprint(1, 1, here.clone());
    t.reserve(1, 1, &[(7, Shape::new(vec![node.clone()]))])
        .expect("free");
    let wanted = Shape::new(vec![disc(3.0, 3.0, 0.7)]);
    assert_eq!(t.check(2, 1, &wanted), Err(Conflict::Occupied { agv: 1 }));
    assert_eq!(t.check_beside(2, 1, 1, &wanted), Ok(()));
    // a third AGV's hold there is still seen, whichever AGV it is checked beside
    t.set_footprint(3, 1, Shape::new(vec![disc(3.5, 3.0, 0.3)]));
    assert_eq!(
        t.check_beside(2, 1, 1, &wanted),
        Err(Conflict::Occupied { agv: 3 })
    );
    assert_eq!(
        t.check_beside(2, 3, 1, &wanted),
        Err(Conflict::Occupied { agv: 1 })
    );
    // and beside itself it is the ordinary check
    assert_eq!(t.check_beside(2, 2, 1, &wanted), t.check(2, 1, &wanted));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Regions straight off the wire (any coordinates an AGV may send, self-intersecting,
    /// degenerate, huge) never panic the shape conversion or the grant decision.
    #[test]
    fn any_region_from_the_wire_is_decided_without_panic(
        kind in 0u8..4,
        coords in proptest::collection::vec(-1e12f64..1e12, 4..20),
        small in proptest::collection::vec(-30.0f64..30.0, 4..20),
        size in -1.0f32..1e6,
        use_small in any::<bool>(),
    ) {
        use protocol::message::Region;
        use protocol::types::{Point, Pose};
        let c = if use_small { &small } else { &coords };
        let points: Vec<Point> = c.chunks(2).filter(|p| p.len() == 2).map(|p| Point { x: p[0], y: p[1] }).collect();
        let region = match kind {
            0 => Region::Rectangle { center: Pose { x: c[0], y: c[1], theta: c[2] }, length: size, width: size },
            1 => Region::Polygon { points },
            2 => Region::Circle { center: Point { x: c[0], y: c[1] }, radius: size },
            _ => Region::Corridor { points, half_width: size },
        };
        if let Ok(shape) = maps::space::region_shape(&region) {
            let mut t = SpaceTable::new(site(), 1);
            t.set_footprint(2, 1, Shape::new(vec![oriented_rect(3.0, 3.0, 0.0, 0.5, 0.5, 0.4, 0.4)]));
            let _ = t.grant(1, 1, 1, shape.clone(), 0, 1_000);
            let _ = t.check(3, 1, &shape);
        }
    }
}
