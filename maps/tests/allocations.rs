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
