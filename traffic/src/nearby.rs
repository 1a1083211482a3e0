//! The AGVs by where they last reported: a grid of square cells per map, so "which AGVs stand
//! within d of this point" looks at the few cells around it instead of walking (or sorting)
//! the whole fleet. Kept up to date by every report; an AGV that never reported is in no cell
//! (its pose is not known).

use std::collections::HashMap;

/// The side of a cell, m: a query 40 m around a point looks at 6 × 6 cells.
const CELL: f64 = 16.0;

/// A cell: map, column, row.
pub(crate) type CellKey = (u16, i32, i32);

/// The cell of `(x, y)` on `map`.
fn cell(map: u16, x: f64, y: f64) -> CellKey {
    // (`as` saturates: a pose far outside any map still lands in a cell)
    (map, (x / CELL).floor() as i32, (y / CELL).floor() as i32)
}

/// AGV ids by cell.
#[derive(Debug, Default)]
pub(crate) struct Nearby {
    cells: HashMap<CellKey, Vec<u32>>,
}

impl Nearby {
    /// `agv` now stands at `(x, y)` on `map`; `at` is the cell it was in (kept by the caller,
    /// updated here). Costs a division and a comparison unless it changed cells.
    pub(crate) fn place(&mut self, agv: u32, at: &mut Option<CellKey>, map: u16, x: f64, y: f64) {
        let key = cell(map, x, y);
        if *at == Some(key) {
            return;
        }
        if let Some(old) = at.take() {
            self.remove_from(agv, old);
        }
        self.cells.entry(key).or_default().push(agv);
        *at = Some(key);
    }

    /// `agv` leaves the grid (forgotten).
    pub(crate) fn remove(&mut self, agv: u32, at: &mut Option<CellKey>) {
        if let Some(old) = at.take() {
            self.remove_from(agv, old);
        }
    }

    fn remove_from(&mut self, agv: u32, key: CellKey) {
        if let Some(ids) = self.cells.get_mut(&key) {
            if let Some(i) = ids.iter().position(|a| *a == agv) {
                ids.swap_remove(i);
            }
            if ids.is_empty() {
                self.cells.remove(&key);
            }
        }
    }

    /// The AGVs in the cells of ring `k` around the cell of `(x, y)` on `map` (ring 0: that
    /// cell; ring k: the cells k cells away from it, across or diagonally): in no particular
    /// order.
    pub(crate) fn ring(&self, map: u16, x: f64, y: f64, k: u32) -> impl Iterator<Item = u32> {
        let (_, cx, cy) = cell(map, x, y);
        let (cx, cy, k) = (i64::from(cx), i64::from(cy), i64::from(k));
        let rows = [cy - k, cy + k];
        // top and bottom rows whole, the sides between them
        let across = (cx - k..=cx + k).flat_map(move |i| {
            rows.into_iter()
                .take(if k == 0 { 1 } else { 2 })
                .map(move |j| (i, j))
        });
        let sides = (cy - k + 1..=cy + k - 1).flat_map(move |j| {
            [(cx - k, j), (cx + k, j)]
                .into_iter()
                .map(move |c| (c.0, c.1))
        });
        across
            .chain(sides)
            .filter_map(move |(i, j)| Some((map, i32::try_from(i).ok()?, i32::try_from(j).ok()?)))
            .filter_map(|key| self.cells.get(&key))
            .flatten()
            .copied()
    }

    /// How far `(x, y)` is from every cell outside rings 0 to `k` around its own (NaN for a
    /// point that is not finite).
    pub(crate) fn beyond(&self, x: f64, y: f64, k: u32) -> f64 {
        if !(x.is_finite() && y.is_finite()) {
            return f64::NAN;
        }
        let (_, cx, cy) = cell(0, x, y);
        let k = f64::from(k);
        let (lo_x, lo_y) = ((f64::from(cx) - k) * CELL, (f64::from(cy) - k) * CELL);
        let (hi_x, hi_y) = (
            (f64::from(cx) + k + 1.0) * CELL,
            (f64::from(cy) + k + 1.0) * CELL,
        );
        (x - lo_x).min(hi_x - x).min(y - lo_y).min(hi_y - y)
    }

    /// Every AGV whose last report put it on `map` within `d` of `(x, y)` on each axis, and
    /// perhaps some others in the same cells (callers check the poses): in no particular order.
    pub(crate) fn around(&self, map: u16, x: f64, y: f64, d: f64) -> impl Iterator<Item = u32> {
        let (_, x0, y0) = cell(map, x - d, y - d);
        let (_, x1, y1) = cell(map, x + d, y + d);
        (x0..=x1)
            .flat_map(move |cx| (y0..=y1).map(move |cy| (map, cx, cy)))
            .filter_map(|key| self.cells.get(&key))
            .flatten()
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agvs_are_found_where_they_last_stood_and_nowhere_else() {
        let mut grid = Nearby::default();
        let mut at = [None; 4];
        grid.place(1, &mut at[0], 1, 5.0, 5.0);
        grid.place(2, &mut at[1], 1, 39.0, -39.0);
        grid.place(3, &mut at[2], 2, 5.0, 5.0); // another map
        grid.place(4, &mut at[3], 1, 100.0, 5.0); // too far
        let mut found: Vec<u32> = grid.around(1, 0.0, 0.0, 40.0).collect();
        found.sort_unstable();
        assert_eq!(found, vec![1, 2]);
        // 1 moves away, 4 comes near
        grid.place(1, &mut at[0], 1, 200.0, 200.0);
        grid.place(4, &mut at[3], 1, -30.0, 30.0);
        grid.place(4, &mut at[3], 1, -30.5, 30.0); // same cell: nothing changes
        let mut found: Vec<u32> = grid.around(1, 0.0, 0.0, 40.0).collect();
        found.sort_unstable();
        assert_eq!(found, vec![2, 4]);
        grid.remove(2, &mut at[1]);
        assert_eq!(grid.around(1, 0.0, 0.0, 40.0).collect::<Vec<_>>(), vec![4]);
        assert_eq!(at[1], None);
        // no empty cells are kept
        grid.remove(4, &mut at[3]);
        grid.remove(1, &mut at[0]);
        grid.remove(3, &mut at[2]);
        assert!(grid.cells.is_empty());
    }

    #[test]
    fn rings_cover_every_cell_once_and_beyond_bounds_what_is_left() {
        let mut grid = Nearby::default();
        let mut at = Vec::new();
        // an AGV in every cell of a 21 x 21 block around the origin's cell
        let mut id = 0;
        for i in -10..=10 {
            for j in -10..=10 {
                id += 1;
                let mut cell = None;
                grid.place(
                    id,
                    &mut cell,
                    1,
                    f64::from(i) * CELL + 3.0,
                    f64::from(j) * CELL + 5.0,
                );
                at.push((id, f64::from(i) * CELL + 3.0, f64::from(j) * CELL + 5.0));
            }
        }
        let (x, y) = (7.5, 2.0);
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..=10 {
            let ring: Vec<u32> = grid.ring(1, x, y, k).collect();
            assert_eq!(
                ring.len(),
                if k == 0 { 1 } else { 8 * k as usize },
                "ring {k}"
            );
            for a in &ring {
                assert!(seen.insert(*a), "AGV {a} in two rings");
            }
            // every AGV not seen yet is at least `beyond` away on some axis
            let beyond = grid.beyond(x, y, k);
            assert!(beyond > 0.0);
            for (a, ax, ay) in &at {
                if !seen.contains(a) {
                    assert!(
                        (ax - x).abs().max((ay - y).abs()) >= beyond,
                        "AGV {a} ring {k}"
                    );
                }
            }
        }
        assert_eq!(seen.len(), at.len());
        assert!(grid.beyond(f64::NAN, 0.0, 3).is_nan());
        // the edges of the number range do not overflow
        assert_eq!(grid.ring(1, f64::MAX, -f64::MAX, 2).count(), 0);
    }

    #[test]
    fn a_pose_far_outside_any_map_does_not_break_the_grid() {
        let mut grid = Nearby::default();
        let mut at = None;
        grid.place(7, &mut at, 1, f64::MAX, -f64::MAX);
        grid.place(8, &mut None, 1, f64::NAN, 0.0);
        assert_eq!(grid.around(1, 0.0, 0.0, 40.0).count(), 1); // NaN lands in cell 0
        grid.remove(7, &mut at);
    }
}
