//! The available AGVs for assignment in an R-tree kept between ticks.
//!
//! Assignment takes, for each queued task that names no AGV, the available AGV nearest its
//! destination. Building an R-tree of the ~8,000 available AGVs of a 10,000-AGV fleet every
//! tick cost a fifth of the tick; the pool instead brings its tree up to date with what
//! changed since the tick before (a few dozen AGVs). The answers are the same as those of a
//! tree bulk-loaded each tick: where the nearest AGV is unique, any exact search finds it;
//! where two or more are equally near (their order is then the bulk-loaded tree's own), the
//! tick's answers come from such a tree, built as before.

use rstar::RTree;
use rstar::primitives::GeomWithData;

/// An available AGV in the tree: (x, y, map × 1000 m) and its id.
pub(crate) type Point = GeomWithData<[f64; 3], u32>;

/// The available AGVs (see the module).
#[derive(Default)]
pub(crate) struct Pool {
    /// The available AGVs at the tick's start, by id.
    list: Vec<(u32, [f64; 3])>,
    /// `list` without the AGVs taken in this tick.
    tree: RTree<Point>,
    /// The AGVs taken in this tick, in order.
    taken: Vec<Point>,
    /// The tree as the tick bulk-loaded it before (`list`, minus `taken`), built at the
    /// tick's first tie and used for the rest of the tick.
    exact: Option<RTree<Point>>,
}

impl Pool {
    /// Starts a tick with `now` (the available AGVs by id): the tree is brought up to date.
    pub(crate) fn start(&mut self, now: Vec<(u32, [f64; 3])>) {
        let taken: Vec<u32> = {
            let mut v: Vec<u32> = self.taken.iter().map(|p| p.data).collect();
            v.sort_unstable();
            v
        };
        let was_taken = |id: u32| taken.binary_search(&id).is_ok();
        if self.tree.size() == 0 && taken.is_empty() {
            self.tree = RTree::bulk_load(
                now.iter()
                    .map(|(id, p)| GeomWithData::new(*p, *id))
                    .collect(),
            );
        } else {
            // Both lists by id: walk them side by side.
            let (mut i, mut j) = (0, 0);
            let old = &self.list;
            while i < old.len() || j < now.len() {
                let o = old.get(i);
                let n = now.get(j);
                match (o, n) {
                    (Some(&(oid, op)), Some(&(nid, np))) if oid == nid => {
                        if op != np || was_taken(oid) {
                            if !was_taken(oid) {
                                self.tree.remove(&GeomWithData::new(op, oid));
                            }
                            self.tree.insert(GeomWithData::new(np, nid));
                        }
                        i += 1;
                        j += 1;
                    }
                    (Some(&(oid, op)), n) if n.is_none_or(|&(nid, _)| oid < nid) => {
                        if !was_taken(oid) {
                            self.tree.remove(&GeomWithData::new(op, oid));
                        }
                        i += 1;
                    }
                    (_, Some(&(nid, np))) => {
                        self.tree.insert(GeomWithData::new(np, nid));
                        j += 1;
                    }
                    (_, None) => unreachable!("one of the lists has more"),
                }
            }
        }
        self.list = now;
        self.taken.clear();
        self.exact = None;
    }

    /// How many are available now.
    pub(crate) fn size(&self) -> usize {
        self.tree.size()
    }

    /// Takes the available AGV nearest `at` (as the bulk-loaded tree would pick it).
    pub(crate) fn take_nearest(&mut self, at: &[f64; 3]) -> Option<u32> {
        if self.exact.is_none() {
            let (first, tie) = {
                let mut near = self.tree.nearest_neighbor_iter_with_distance_2(at);
                let first = near.next().map(|(p, d)| (*p, d));
                let tie = match (first, near.next()) {
                    (Some((_, d0)), Some((_, d1))) => d1 <= d0,
                    _ => false,
                };
                (first, tie)
            };
            if !tie {
                let (hit, _) = first?;
                self.tree.remove(&hit);
                self.taken.push(hit);
                return Some(hit.data);
            }
            // Equally near: the order is that of the tree built as before.
            let mut exact = RTree::bulk_load(
                self.list
                    .iter()
                    .map(|(id, p)| GeomWithData::new(*p, *id))
                    .collect(),
            );
            for t in &self.taken {
                exact.remove(t);
            }
            self.exact = Some(exact);
        }
        let exact = self.exact.as_mut().expect("exact tree");
        let hit = *exact.nearest_neighbor(at)?;
        exact.remove(&hit);
        self.tree.remove(&hit);
        self.taken.push(hit);
        Some(hit.data)
    }
}
