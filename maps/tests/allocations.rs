//! What a moving fleet's status reports cost the space table in allocations: moving a footprint
//! that stays a rectangle allocates nothing (the server's and the traffic core's report path,
//! at 10 Hz per AGV, must not allocate per frame).

use std::path::Path;

use maps::space::{disc, oriented_rect};
use maps::{Shape, Site, SpaceTable};

#[test]
fn moving_a_footprint_in_place_allocates_nothing() {
    let site = Site::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sites/demo")).unwrap();
    let mut table = SpaceTable::new(&site, 1);
    let dims = [0.5, 0.5, 0.4, 0.4];
    // AGV 1 set once (that allocates), AGV 2 holding a reservation beside its way
    assert!(
        table
            .set_footprint_rect(1, 1, [3.0, 3.0, 0.0], dims)
            .is_empty()
    );
    table
        .reserve(2, 1, &[(7, Shape::new(vec![disc(9.0, 3.0, 0.5)]))])
        .expect("free");
    let mut reported = Vec::new();
    let info = allocation_counter::measure(|| {
        // 40 reports 5 cm apart: inside the indexed box and out of it (re-indexed)
        for step in 1..=40 {
            let x = 3.0 + 0.05 * f64::from(step);
            let overlaps = table.set_footprint_rect(1, 1, [x, 3.0, 0.01 * f64::from(step)], dims);
            if !overlaps.is_empty() {
                reported.push(step);
            }
        }
    });
    assert!(reported.is_empty(), "{reported:?}");
    // Leaving its box re-indexes the entry in the R-tree, which may reallocate a node now and
    // then; staying inside allocates nothing at all.
    let outside = allocation_counter::measure(|| {
        for step in 0..20 {
            let x = 5.0 + 0.001 * f64::from(step);
            table.set_footprint_rect(1, 1, [x, 3.0, 0.4], dims);
        }
    });
    assert_eq!(outside.count_total, 0, "inside the box: {outside:?}");
    // (8 in 40 moves here: each time the footprint left its box)
    assert!(info.count_total <= 10, "40 moves: {info:?}");
    // The same moves as new shapes allocate on every report (what the path did before).
    let shaped = allocation_counter::measure(|| {
        for step in 0..20 {
            let x = 5.0 + 0.001 * f64::from(step);
            let shape = Shape::new(vec![oriented_rect(x, 3.0, 0.4, 0.5, 0.5, 0.4, 0.4)]);
            table.set_footprint(1, 1, shape);
        }
    });
    assert!(shaped.count_total >= 40, "{shaped:?}");
    // and an overlap is still reported by the in-place path
    assert_eq!(
        table.set_footprint_rect(1, 1, [8.8, 3.0, 0.0], dims),
        vec![2]
    );
}

/// Piece shapes are kept by the thousand (the traffic core's piece cache): each ring is one
/// allocation of exactly its size (closing the ring in `geo` doubled it), so a straight edge's
/// corridor is four blocks: its parts, a rectangle and a disc at each end.
#[test]
fn piece_shapes_are_allocated_at_their_exact_size() {
    let exact = |s: &Shape| {
        s.0.iter().all(|p| {
            let ring = &p.exterior().0;
            ring.len() == ring.capacity() && ring.first() == ring.last()
        }) && s.0.len() == s.0.capacity()
    };
    let info = allocation_counter::measure(|| {
        let d = disc(1.0, 2.0, 0.5);
        assert_eq!(d.exterior().0.len(), 9);
        assert_eq!(d.exterior().0.capacity(), 9);
    });
    assert_eq!(info.count_total, 1, "{info:?}");
    assert_eq!(info.bytes_total, 9 * 16, "{info:?}");
    let mut corridor = None;
    let info = allocation_counter::measure(|| {
        corridor = Some(maps::space::corridor(&[[0.0, 0.0], [2.0, 0.0]], 0.5));
    });
    let corridor = corridor.unwrap();
    assert_eq!(corridor.0.len(), 3);
    assert!(exact(&corridor));
    assert_eq!(info.count_total, 4, "{info:?}");
    // a bent polyline: a rectangle per segment, a disc per point
    let bent = maps::space::corridor(&[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]], 0.5);
    assert_eq!(bent.0.len(), 5);
    assert!(exact(&bent));
    // a ring given closed is not closed twice
    let closed = maps::space::polygon(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]);
    assert_eq!(closed.exterior().0.len(), 4);
}
