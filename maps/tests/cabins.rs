//! A lift's doors are one cabin: space touching the cabin on one floor is only free when nobody
//! else holds space in the cabin on any other floor; footprints there are overlaps. Restored
//! reservations are held without checks.

use maps::generate::{grid_node, grid_site};
use maps::space::{disc, oriented_rect};
use maps::{Conflict, Shape, Site, SpaceTable};

fn site() -> Site {
    Site::compile(
        &grid_site("cabins", 3, 9, 3),
        std::path::Path::new("<test>"),
    )
    .unwrap()
}

fn at(site: &Site, node: u32) -> Shape {
    let n = site.node(node).unwrap();
    Shape::new(vec![disc(n.x, n.y, 0.69)])
}

fn footprint(site: &Site, node: u32) -> Shape {
    let n = site.node(node).unwrap();
    Shape::new(vec![oriented_rect(n.x, n.y, 0.0, 0.5, 0.5, 0.4, 0.4)])
}

#[test]
fn the_doors_of_a_lift_are_one_cabin() {
    let site = site();
    let west = |f| grid_node(f, 9, 0, 1);
    let east = |f| grid_node(f, 9, 8, 1);
    let mut t = SpaceTable::new(&site, 1);
    assert!(t.set_footprint(1, 2, footprint(&site, west(2))).is_empty());
    // the west cabin is taken on every floor, the east one is not
    assert_eq!(
        t.reserve(2, 1, &[(u64::from(west(1)), at(&site, west(1)))]),
        Err(Conflict::Occupied { agv: 1 })
    );
    assert_eq!(
        t.check(2, 3, &at(&site, west(3))),
        Err(Conflict::Occupied { agv: 1 })
    );
    assert_eq!(t.check(1, 3, &at(&site, west(3))), Ok(()), "its own cabin");
    assert_eq!(t.check(2, 1, &at(&site, east(1))), Ok(()));
    assert_eq!(
        t.check(2, 1, &at(&site, grid_node(1, 9, 1, 1))),
        Ok(()),
        "the node beside the door is not the cabin"
    );
    // an AGV that turns up in the cabin on another floor overlaps
    assert_eq!(t.set_footprint(2, 3, footprint(&site, west(3))), vec![1]);
    assert_eq!(t.footprint_overlaps(2), vec![1]);
    assert_eq!(t.footprint_overlaps(1), vec![2]);
    // a reservation in the cabin blocks it too
    t.clear_footprint(1);
    t.clear_footprint(2);
    t.reserve(3, 1, &[(u64::from(west(1)), at(&site, west(1)))])
        .unwrap();
    assert_eq!(
        t.check(4, 2, &at(&site, west(2))),
        Err(Conflict::Reserved { agv: 3 })
    );
}

#[test]
fn restored_reservations_are_held_without_checks() {
    let site = site();
    let n = grid_node(1, 9, 4, 1);
    let mut t = SpaceTable::new(&site, 1);
    t.set_footprint(1, 1, footprint(&site, n));
    t.restore_reservation(2, 1, u64::from(n), at(&site, n));
    assert!(t.holds(2).iter().any(|(h, ..)| *h
        == maps::Hold::Reservation {
            resource: u64::from(n)
        }));
    assert_eq!(t.footprint_overlaps(1), vec![2]);
    // restoring twice keeps one
    t.restore_reservation(2, 1, u64::from(n), at(&site, n));
    assert_eq!(t.holds(2).len(), 1);
}
