//! Who holds which space: the reservation and grant table behind traffic control and
//! safe-space grants (docs/traffic.md). Every AGV holds its **footprint** (where it physically
//! is, from its reports; kept while it is offline), its **reservations** (nodes and edge
//! corridors of its released path) and its **grants** (safe spaces). A reservation or grant is
//! only ever added when its shape intersects nothing another AGV holds and no forbidden area:
//! the table never lets two AGVs hold overlapping space. Footprints are facts, not requests:
//! setting one never fails, but an overlap it creates is reported.
//!
//! Shapes are `geo` multipolygons in the map's frame; candidates come from an `rstar` R-tree of
//! bounding boxes per map, then an exact `geo` intersection test.

use geo::{Area, BoundingRect, Coord, Intersects, MultiPolygon, Polygon, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, Envelope as _, RTree};

pub use crate::shape::{
    Shape, ShapeError, corridor, disc, oriented_rect, polygon, rect_corners, region_shape,
};

use crate::file::AreaKind;
use crate::hash::IdMap;
use crate::site::Site;

/// Radius of a lift's cabin around each of its door nodes, m. All doors of a lift are one
/// cabin, on whichever floor it stands: space touching one door's cabin is only free when
/// nobody else holds space touching any other door's cabin of that lift.
pub const CABIN_RADIUS: f64 = 0.5;

/// How much larger all round than its footprint an AGV's box in the index is, m: a moving AGV
/// reports a footprint a few centimetres on each time (10 Hz), and the index changes only when
/// it leaves that box (an R-tree update costs more than the rest of a report). Queries test
/// the exact box and shape, so the slack never makes space look taken.
pub const FOOTPRINT_SLACK: f64 = 0.25;

/// What an AGV holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hold {
    /// Where it physically is.
    Footprint,
    /// A piece of its released path (`resource`: a node or directed edge id, chosen by the
    /// caller).
    Reservation {
        /// The resource.
        resource: u64,
    },
    /// A safe-space grant.
    Grant {
        /// The grant id.
        id: u32,
    },
}

/// Why space could not be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Another AGV's footprint is there.
    #[error("occupied by AGV {agv}")]
    Occupied {
        /// That AGV.
        agv: u32,
    },
    /// Another AGV's reservation is there.
    #[error("reserved by AGV {agv}")]
    Reserved {
        /// That AGV.
        agv: u32,
    },
    /// Another AGV's grant is there.
    #[error("granted to AGV {agv} (grant {grant})")]
    Granted {
        /// That AGV.
        agv: u32,
        /// The grant.
        grant: u32,
    },
    /// A forbidden area is there.
    #[error("forbidden area {area}")]
    Forbidden {
        /// The area.
        area: u32,
    },
    /// Not the AGV's current map, or no such map.
    #[error("not the AGV's current map")]
    WrongMap,
    /// Outside the map, larger than allowed, or for longer than allowed.
    #[error("region or duration over the limits")]
    TooLarge,
}

/// A grant as the table keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantInfo {
    /// Grant id.
    pub id: u32,
    /// The AGV.
    pub agv: u32,
    /// The map.
    pub map: u16,
    /// The region.
    pub shape: Shape,
    /// When it was granted, UTC ms.
    pub granted_at_ms: u64,
    /// When it expires, UTC ms.
    pub expires_at_ms: u64,
}

/// Limits on grants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrantLimits {
    /// Largest area, m².
    pub max_area_m2: f64,
    /// Longest duration, ms.
    pub max_duration_ms: u64,
}

impl Default for GrantLimits {
    fn default() -> Self {
        Self {
            max_area_m2: 25.0,
            max_duration_ms: 120_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    agv: u32,
    map: u16,
    hold: Hold,
    shape: Shape,
    /// The shape's bounding box.
    bbox: AABB<[f64; 2]>,
    /// The box the entry has in its map's R-tree: `bbox`, or for a footprint a box
    /// [`FOOTPRINT_SLACK`] larger all round, kept while the footprint stays inside it.
    indexed: AABB<[f64; 2]>,
    expires_at_ms: u64,
    granted_at_ms: u64,
}

type Indexed = GeomWithData<Rectangle<[f64; 2]>, u64>;

/// One door of a lift: the cabin on that floor.
#[derive(Debug, Clone)]
struct Cabin {
    lift: u16,
    map: u16,
    shape: Shape,
    bbox: AABB<[f64; 2]>,
}

#[derive(Debug, Default)]
struct MapSpace {
    tree: RTree<Indexed>,
    forbidden: Vec<(u32, Polygon<f64>)>,
    bounds: Option<Rect<f64>>,
}

/// The space table of one site.
#[derive(Debug, Default)]
pub struct SpaceTable {
    maps: IdMap<u16, MapSpace>,
    entries: IdMap<u64, Entry>,
    by_agv: IdMap<u32, Vec<u64>>,
    by_hold: IdMap<(u32, Hold), u64>,
    grant_keys: IdMap<u32, u64>,
    cabins: Vec<Cabin>,
    next_key: u64,
    next_grant: u32,
    /// Limits on grants.
    pub limits: GrantLimits,
    /// How much larger than its footprint an AGV's box in the index is, m
    /// ([`FOOTPRINT_SLACK`] from [`SpaceTable::new`]; 0: every move updates the index).
    pub footprint_slack: f64,
}

/// The bounding box of `shape`: `[min x, min y, max x, max y]` (none for an empty shape).
pub fn extent(shape: &Shape) -> Option<[f64; 4]> {
    let r = shape.bounding_rect()?;
    Some([r.min().x, r.min().y, r.max().x, r.max().y])
}

/// `b` grown by `by` all round.
fn grown(b: &AABB<[f64; 2]>, by: f64) -> AABB<[f64; 2]> {
    let (lo, hi) = (b.lower(), b.upper());
    AABB::from_corners([lo[0] - by, lo[1] - by], [hi[0] + by, hi[1] + by])
}

/// The conflict with `agv`'s `hold`.
fn conflict(agv: u32, hold: Hold) -> Conflict {
    match hold {
        Hold::Footprint => Conflict::Occupied { agv },
        Hold::Reservation { .. } => Conflict::Reserved { agv },
        Hold::Grant { id } => Conflict::Granted { agv, grant: id },
    }
}

fn bbox_of(shape: &Shape) -> Option<AABB<[f64; 2]>> {
    let r = shape.bounding_rect()?;
    Some(AABB::from_corners(
        [r.min().x, r.min().y],
        [r.max().x, r.max().y],
    ))
}

impl SpaceTable {
    /// A table for `site`'s maps (their bounds and forbidden areas). Grant ids start at
    /// `first_grant` (continue them across restarts).
    pub fn new(site: &Site, first_grant: u32) -> Self {
        let mut maps = IdMap::default();
        for m in site.maps() {
            maps.insert(
                m.id,
                MapSpace {
                    tree: RTree::new(),
                    forbidden: m
                        .areas
                        .iter()
                        .filter(|a| a.kind == AreaKind::Forbidden)
                        .map(|a| (a.id, a.polygon.clone()))
                        .collect(),
                    bounds: Some(Rect::new(
                        Coord {
                            x: m.bounds.min[0],
                            y: m.bounds.min[1],
                        },
                        Coord {
                            x: m.bounds.max[0],
                            y: m.bounds.max[1],
                        },
                    )),
                },
            );
        }
        let cabins = site
            .lifts()
            .iter()
            .flat_map(|l| l.doors.iter().map(move |d| (l.id, d.0, d.1)))
            .filter_map(|(lift, map, node)| {
                let n = site.node(node)?;
                let shape = MultiPolygon::new(vec![disc(n.x, n.y, CABIN_RADIUS)]);
                let bbox = bbox_of(&shape)?;
                Some(Cabin {
                    lift,
                    map,
                    shape,
                    bbox,
                })
            })
            .collect();
        Self {
            maps,
            cabins,
            next_grant: first_grant.max(1),
            footprint_slack: FOOTPRINT_SLACK,
            ..Self::default()
        }
    }

    /// Holds of AGVs other than `agv` in the cabins of the lifts whose cabin `shape` on `map`
    /// touches, on the other floors (the same floor is the ordinary check): (AGV, hold).
    fn cabin_holders(&self, agv: u32, map: u16, shape: &Shape) -> Vec<(u32, Hold)> {
        let mut out = Vec::new();
        for c in self
            .cabins
            .iter()
            .filter(|c| c.map == map && c.shape.intersects(shape))
        {
            for other in self
                .cabins
                .iter()
                .filter(|o| o.lift == c.lift && o.map != map)
            {
                let Some(space) = self.maps.get(&other.map) else {
                    continue;
                };
                for hit in space.tree.locate_in_envelope_intersecting(&other.bbox) {
                    let e = &self.entries[&hit.data];
                    if e.agv != agv
                        && e.bbox.intersects(&other.bbox)
                        && e.shape.intersects(&other.shape)
                    {
                        out.push((e.agv, e.hold));
                    }
                }
            }
        }
        out
    }

    /// Whether `shape` on `map` is free for `agv`: no other AGV's footprint, reservation or
    /// grant intersects it, nor a forbidden area.
    pub fn check(&self, agv: u32, map: u16, shape: &Shape) -> Result<(), Conflict> {
        self.check_beside(agv, agv, map, shape)
    }

    /// [`Self::check`], ignoring what AGV `beside` holds as well: whether `shape` will be free
    /// for `agv` once `beside` has left it (the second AGV of a chain of moves).
    pub fn check_beside(
        &self,
        agv: u32,
        beside: u32,
        map: u16,
        shape: &Shape,
    ) -> Result<(), Conflict> {
        let space = self.maps.get(&map).ok_or(Conflict::WrongMap)?;
        let bbox = bbox_of(shape).ok_or(Conflict::TooLarge)?;
        for (id, area) in &space.forbidden {
            if area.intersects(shape) {
                return Err(Conflict::Forbidden { area: *id });
            }
        }
        // Footprints first: they are the strongest reason.
        let mut found: Option<Conflict> = None;
        for hit in space.tree.locate_in_envelope_intersecting(&bbox) {
            let e = &self.entries[&hit.data];
            if e.agv == agv
                || e.agv == beside
                || !e.bbox.intersects(&bbox)
                || !e.shape.intersects(shape)
            {
                continue;
            }
            let c = conflict(e.agv, e.hold);
            if let Conflict::Occupied { .. } = c {
                return Err(c);
            }
            found.get_or_insert(c);
        }
        // The cabin of a lift is one space on every floor.
        for (other, hold) in self.cabin_holders(agv, map, shape) {
            if other == beside {
                continue;
            }
            let c = conflict(other, hold);
            if let Conflict::Occupied { .. } = c {
                return Err(c);
            }
            found.get_or_insert(c);
        }
        found.map_or(Ok(()), Err)
    }

    fn insert(&mut self, agv: u32, map: u16, hold: Hold, shape: Shape, times: (u64, u64)) -> u64 {
        let bbox = bbox_of(&shape).unwrap_or_else(|| AABB::from_point([0.0, 0.0]));
        let indexed = match hold {
            // (never smaller than the footprint, whatever the setting)
            Hold::Footprint => grown(&bbox, self.footprint_slack.max(0.0)),
            _ => bbox,
        };
        let key = self.next_key;
        self.next_key += 1;
        if let Some(space) = self.maps.get_mut(&map) {
            space
                .tree
                .insert(GeomWithData::new(Rectangle::from_aabb(indexed), key));
        }
        self.entries.insert(
            key,
            Entry {
                agv,
                map,
                hold,
                shape,
                bbox,
                indexed,
                granted_at_ms: times.0,
                expires_at_ms: times.1,
            },
        );
        self.by_agv.entry(agv).or_default().push(key);
        self.by_hold.insert((agv, hold), key);
        if let Hold::Grant { id } = hold {
            self.grant_keys.insert(id, key);
        }
        key
    }

    fn remove(&mut self, key: u64) -> Option<Entry> {
        let e = self.entries.remove(&key)?;
        if let Some(space) = self.maps.get_mut(&e.map) {
            space
                .tree
                .remove(&GeomWithData::new(Rectangle::from_aabb(e.indexed), key));
        }
        if let Some(keys) = self.by_agv.get_mut(&e.agv) {
            keys.retain(|k| *k != key);
        }
        self.by_hold.remove(&(e.agv, e.hold));
        if let Hold::Grant { id } = e.hold {
            self.grant_keys.remove(&id);
        }
        Some(e)
    }

    /// Sets where `agv` physically is (replacing its previous footprint). Never refused: it is
    /// a fact. Returns the other AGVs whose held space it overlaps (a safety alarm).
    pub fn set_footprint(&mut self, agv: u32, map: u16, shape: Shape) -> Vec<u32> {
        if let Some(key) = self.by_hold.get(&(agv, Hold::Footprint)).copied() {
            let bbox = bbox_of(&shape).unwrap_or_else(|| AABB::from_point([0.0, 0.0]));
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.map == map && e.indexed.contains_envelope(&bbox))
            {
                // still inside its box in the index: the entry alone changes (its own old
                // shape is no overlap: `overlapping` skips `agv`'s holds)
                let overlaps = self.overlapping(agv, map, &shape);
                if let Some(e) = self.entries.get_mut(&key) {
                    e.shape = shape;
                    e.bbox = bbox;
                }
                return overlaps;
            }
            self.remove(key);
        }
        let overlaps = self.overlapping(agv, map, &shape);
        self.insert(agv, map, Hold::Footprint, shape, (0, u64::MAX));
        overlaps
    }

    /// [`Self::set_footprint`] with the rectangle [`oriented_rect`] makes of `pose` (x, y,
    /// theta) and `dims` (front, rear, left, right): the same decision, but a footprint that
    /// is already such a rectangle on `map` is moved in place (a moving AGV's status report
    /// allocates nothing here when the footprint stays inside its indexed box, and re-indexes
    /// the same shape when it leaves it).
    pub fn set_footprint_rect(
        &mut self,
        agv: u32,
        map: u16,
        pose: [f64; 3],
        dims: [f64; 4],
    ) -> Vec<u32> {
        let corners = rect_corners(
            pose[0], pose[1], pose[2], dims[0], dims[1], dims[2], dims[3],
        );
        let key = self.by_hold.get(&(agv, Hold::Footprint)).copied();
        let moved = key.and_then(|key| {
            let e = self.entries.get_mut(&key)?;
            let [poly] = e.shape.0.as_mut_slice() else {
                return None;
            };
            if e.map != map || !poly.interiors().is_empty() || poly.exterior().0.len() != 5 {
                return None;
            }
            poly.exterior_mut(|ring| {
                let closed = corners.iter().chain(std::iter::once(&corners[0]));
                for (c, p) in ring.0.iter_mut().zip(closed) {
                    *c = Coord { x: p[0], y: p[1] };
                }
            });
            let bbox = bbox_of(&e.shape).unwrap_or_else(|| AABB::from_point([0.0, 0.0]));
            e.bbox = bbox;
            Some((key, e.indexed.contains_envelope(&bbox)))
        });
        match moved {
            // still inside its box in the index: the entry alone changed
            Some((key, true)) => self.overlapping(agv, map, &self.entries[&key].shape),
            // out of its box: the same shape indexed anew
            Some((key, false)) => {
                let e = self.remove(key).expect("the footprint's entry");
                let overlaps = self.overlapping(agv, map, &e.shape);
                self.insert(agv, map, Hold::Footprint, e.shape, (0, u64::MAX));
                overlaps
            }
            None => self.set_footprint(agv, map, Shape::new(vec![polygon(&corners)])),
        }
    }

    /// The AGVs other than `agv` holding space that `shape` on `map` intersects (cabins of
    /// lifts included), each once, by id.
    fn overlapping(&self, agv: u32, map: u16, shape: &Shape) -> Vec<u32> {
        let mut overlaps = Vec::new();
        if let (Some(space), Some(bbox)) = (self.maps.get(&map), bbox_of(shape)) {
            for hit in space.tree.locate_in_envelope_intersecting(&bbox) {
                let e = &self.entries[&hit.data];
                if e.agv != agv && e.bbox.intersects(&bbox) && e.shape.intersects(shape) {
                    overlaps.push(e.agv);
                }
            }
        }
        overlaps.extend(self.cabin_holders(agv, map, shape).iter().map(|h| h.0));
        overlaps.sort_unstable();
        overlaps.dedup();
        overlaps
    }

    /// The AGVs whose held space `agv`'s footprint overlaps now (empty without a footprint).
    pub fn footprint_overlaps(&self, agv: u32) -> Vec<u32> {
        let Some(e) = self
            .by_hold
            .get(&(agv, Hold::Footprint))
            .and_then(|k| self.entries.get(k))
        else {
            return Vec::new();
        };
        self.overlapping(agv, e.map, &e.shape)
    }

    /// Whether the footprints of `a` and `b` touch (on one map): the AGVs are in contact.
    pub fn footprints_touch(&self, a: u32, b: u32) -> bool {
        matches!(
            (self.footprint(a), self.footprint(b)),
            (Some((ma, sa)), Some((mb, sb))) if ma == mb && sa.intersects(sb)
        )
    }

    /// `agv`'s footprint: its map and shape.
    pub fn footprint(&self, agv: u32) -> Option<(u16, &Shape)> {
        let e = self
            .entries
            .get(self.by_hold.get(&(agv, Hold::Footprint))?)?;
        Some((e.map, &e.shape))
    }

    /// Forgets `agv`'s footprint (an operator cleared it after checking the floor).
    pub fn clear_footprint(&mut self, agv: u32) -> bool {
        match self.by_hold.get(&(agv, Hold::Footprint)).copied() {
            Some(key) => self.remove(key).is_some(),
            None => false,
        }
    }

    /// Reserves `items` (resource id and shape) on `map` for `agv`, all or none. Items it
    /// already holds are kept as they are.
    pub fn reserve(&mut self, agv: u32, map: u16, items: &[(u64, Shape)]) -> Result<(), Conflict> {
        self.reserve_on_maps(agv, &[(map, items)])
    }

    /// Reserves items on several maps for `agv` (a lift ride: the way into the cabin on one
    /// floor and out of it on another), all or none.
    pub fn reserve_on_maps(
        &mut self,
        agv: u32,
        parts: &[(u16, &[(u64, Shape)])],
    ) -> Result<(), Conflict> {
        for (map, items) in parts {
            for (resource, shape) in items.iter() {
                if self.by_hold.contains_key(&(
                    agv,
                    Hold::Reservation {
                        resource: *resource,
                    },
                )) {
                    continue;
                }
                self.check(agv, *map, shape)?;
            }
        }
        for (map, items) in parts {
            for (resource, shape) in items.iter() {
                let hold = Hold::Reservation {
                    resource: *resource,
                };
                if !self.by_hold.contains_key(&(agv, hold)) {
                    self.insert(agv, *map, hold, shape.clone(), (0, u64::MAX));
                }
            }
        }
        Ok(())
    }

    /// Restores a reservation committed before a restart, without checks: the AGV may be on it
    /// (it was checked when it was made; another AGV's last stored pose may be older than it).
    pub fn restore_reservation(&mut self, agv: u32, map: u16, resource: u64, shape: Shape) {
        let hold = Hold::Reservation { resource };
        if !self.by_hold.contains_key(&(agv, hold)) {
            self.insert(agv, map, hold, shape, (0, u64::MAX));
        }
    }

    /// Whether `agv` holds the reservation of `resource`.
    pub fn holds_reservation(&self, agv: u32, resource: u64) -> bool {
        self.by_hold
            .contains_key(&(agv, Hold::Reservation { resource }))
    }

    /// The resources `agv` holds reservations of.
    pub fn reservations(&self, agv: u32) -> impl Iterator<Item = u64> + '_ {
        self.by_agv
            .get(&agv)
            .into_iter()
            .flatten()
            .filter_map(|k| match self.entries[k].hold {
                Hold::Reservation { resource } => Some(resource),
                _ => None,
            })
    }

    /// Releases `agv`'s reservations for which `release` is true; returns how many.
    pub fn release_reservations(
        &mut self,
        agv: u32,
        mut release: impl FnMut(u64) -> bool,
    ) -> usize {
        let keys: Vec<u64> = self
            .by_agv
            .get(&agv)
            .into_iter()
            .flatten()
            .copied()
            .filter(|k| {
                matches!(self.entries[k].hold, Hold::Reservation { resource } if release(resource))
            })
            .collect();
        keys.iter().filter(|k| self.remove(**k).is_some()).count()
    }

    /// Grants `shape` on `map` to `agv` (on `current_map`) for `duration_ms` from `now_ms`.
    pub fn grant(
        &mut self,
        agv: u32,
        current_map: u16,
        map: u16,
        shape: Shape,
        now_ms: u64,
        duration_ms: u64,
    ) -> Result<GrantInfo, Conflict> {
        if map != current_map {
            return Err(Conflict::WrongMap);
        }
        let space = self.maps.get(&map).ok_or(Conflict::WrongMap)?;
        if duration_ms == 0
            || duration_ms > self.limits.max_duration_ms
            || shape.unsigned_area() > self.limits.max_area_m2
        {
            return Err(Conflict::TooLarge);
        }
        // Inside the map: its bounding box inside the map's bounds.
        let inside = match (space.bounds, shape.bounding_rect()) {
            (Some(b), Some(r)) => {
                r.min().x >= b.min().x
                    && r.min().y >= b.min().y
                    && r.max().x <= b.max().x
                    && r.max().y <= b.max().y
            }
            _ => false,
        };
        if !inside {
            return Err(Conflict::TooLarge);
        }
        self.check(agv, map, &shape)?;
        let id = self.next_grant;
        self.next_grant = self.next_grant.checked_add(1).unwrap_or(1);
        let expires = now_ms.saturating_add(duration_ms);
        self.insert(
            agv,
            map,
            Hold::Grant { id },
            shape.clone(),
            (now_ms, expires),
        );
        Ok(GrantInfo {
            id,
            agv,
            map,
            shape,
            granted_at_ms: now_ms,
            expires_at_ms: expires,
        })
    }

    /// Restores a grant (after a restart), without checks: it was checked when granted.
    pub fn restore_grant(&mut self, g: GrantInfo) {
        self.next_grant = self.next_grant.max(g.id.wrapping_add(1)).max(1);
        self.insert(
            g.agv,
            g.map,
            Hold::Grant { id: g.id },
            g.shape,
            (g.granted_at_ms, g.expires_at_ms),
        );
    }

    /// Ends grant `id` (released, revoked or expired); returns it.
    pub fn end_grant(&mut self, id: u32) -> Option<GrantInfo> {
        let key = *self.grant_keys.get(&id)?;
        let e = self.remove(key)?;
        Some(GrantInfo {
            id,
            agv: e.agv,
            map: e.map,
            shape: e.shape,
            granted_at_ms: e.granted_at_ms,
            expires_at_ms: e.expires_at_ms,
        })
    }

    /// Grants that expired by `now_ms` (still held: end them with [`Self::end_grant`] once
    /// the AGV has been told).
    pub fn expired(&self, now_ms: u64) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = self
            .grant_keys
            .iter()
            .map(|(id, k)| (*id, &self.entries[k]))
            .filter(|(_, e)| e.expires_at_ms <= now_ms)
            .map(|(id, e)| (id, e.agv))
            .collect();
        out.sort_unstable();
        out
    }

    /// The grant `id`, if active.
    pub fn grant_info(&self, id: u32) -> Option<GrantInfo> {
        let e = &self.entries[self.grant_keys.get(&id)?];
        Some(GrantInfo {
            id,
            agv: e.agv,
            map: e.map,
            shape: e.shape.clone(),
            granted_at_ms: e.granted_at_ms,
            expires_at_ms: e.expires_at_ms,
        })
    }

    /// Every active grant.
    pub fn grants(&self) -> Vec<GrantInfo> {
        let mut out: Vec<GrantInfo> = self
            .entries
            .values()
            .filter_map(|e| match e.hold {
                Hold::Grant { id } => Some(GrantInfo {
                    id,
                    agv: e.agv,
                    map: e.map,
                    shape: e.shape.clone(),
                    granted_at_ms: e.granted_at_ms,
                    expires_at_ms: e.expires_at_ms,
                }),
                _ => None,
            })
            .collect();
        out.sort_by_key(|g| g.id);
        out
    }

    /// The reservations of `agv` that do not intersect `keep` on `map` (all of them on other
    /// maps): what an AGV that stopped inside `keep` no longer needs.
    pub fn reservations_outside(&self, agv: u32, map: u16, keep: &Shape) -> Vec<u64> {
        self.by_agv
            .get(&agv)
            .into_iter()
            .flatten()
            .filter_map(|k| {
                let e = &self.entries[k];
                match e.hold {
                    Hold::Reservation { resource } if e.map != map || !e.shape.intersects(keep) => {
                        Some(resource)
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// Everything `agv` holds, with its map and shape.
    pub fn holds(&self, agv: u32) -> Vec<(Hold, u16, &Shape)> {
        self.by_agv
            .get(&agv)
            .into_iter()
            .flatten()
            .map(|k| {
                let e = &self.entries[k];
                (e.hold, e.map, &e.shape)
            })
            .collect()
    }

    /// Every entry as (AGV, map, hold, shape): for checks and displays.
    pub fn all(&self) -> impl Iterator<Item = (u32, u16, Hold, &Shape)> {
        self.entries
            .values()
            .map(|e| (e.agv, e.map, e.hold, &e.shape))
    }
}
