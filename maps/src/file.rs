//! The site files (docs/maps.md): a directory with `site.toml` (maps, lifts, links between
//! buildings) and one TOML file per map (nodes, edges, areas). These types are the files as
//! written; [`crate::Site`] is what they compile to after validation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::SiteError;

/// `site.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    /// The site's name.
    pub name: String,
    /// Its maps.
    #[serde(default, rename = "maps")]
    pub maps: Vec<MapRef>,
    /// Its lifts.
    #[serde(default)]
    pub lifts: Vec<LiftFile>,
    /// Passages between maps that are not lifts (between buildings).
    #[serde(default)]
    pub links: Vec<LinkFile>,
    /// The largest vehicle the site takes: a registration with a larger footprint is refused.
    #[serde(default, skip_serializing_if = "VehicleLimits::is_default")]
    pub vehicles: VehicleLimits,
}

/// The largest footprint an AGV may register on the site (`[vehicles]` in `site.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VehicleLimits {
    /// Longest footprint (`front + rear`), m.
    pub max_length: f64,
    /// Widest footprint (`left + right`), m.
    pub max_width: f64,
}

impl Default for VehicleLimits {
    fn default() -> Self {
        Self {
            max_length: 4.0,
            max_width: 3.0,
        }
    }
}

impl VehicleLimits {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Whether a footprint `[front, rear, left, right]` fits these limits (each side at least
    /// 0, a length and a width above 0, at most the limits).
    pub fn admits(&self, [front, rear, left, right]: [f64; 4]) -> bool {
        let sides = [front, rear, left, right];
        sides.iter().all(|s| s.is_finite() && *s >= 0.0)
            && front + rear > 0.0
            && left + right > 0.0
            && front + rear <= self.max_length
            && left + right <= self.max_width
    }
}

/// One map of the site: where its file is and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapRef {
    /// Map id (the protocol's `map_id`).
    pub id: u16,
    /// Name.
    pub name: String,
    /// The map file, relative to `site.toml`.
    pub file: PathBuf,
    /// Building.
    #[serde(default)]
    pub building: String,
    /// Floor number.
    #[serde(default)]
    pub floor: i32,
    /// Navigation mode where no zone says otherwise.
    #[serde(default = "default_navigation")]
    pub navigation: Navigation,
    /// Map version (sent with map switches).
    #[serde(default)]
    pub version: u32,
}

fn default_navigation() -> Navigation {
    Navigation::Slam
}

/// Navigation modes (A.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Navigation {
    /// Laser or vision SLAM.
    Slam,
    /// QR codes on the floor.
    QrCode,
    /// Magnetic tape.
    Magnetic,
    /// Reflectors.
    Reflector,
}

impl Navigation {
    /// The protocol value.
    pub fn to_wire(self) -> protocol::types::NavigationMode {
        use protocol::types::NavigationMode as N;
        match self {
            Navigation::Slam => N::Slam,
            Navigation::QrCode => N::QrCode,
            Navigation::Magnetic => N::Magnetic,
            Navigation::Reflector => N::Reflector,
        }
    }
}

/// A map file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MapFile {
    /// The map's extent in its own frame, metres: every node lies inside.
    pub bounds: Bounds,
    /// Default speed limit of its edges, m/s.
    #[serde(default = "default_speed")]
    pub max_speed: f64,
    /// Nodes.
    #[serde(default)]
    pub nodes: Vec<NodeFile>,
    /// Edges.
    #[serde(default)]
    pub edges: Vec<EdgeFile>,
    /// Special areas.
    #[serde(default)]
    pub areas: Vec<AreaFile>,
}

fn default_speed() -> f64 {
    1.5
}

/// A rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Lower-left corner.
    pub min: [f64; 2],
    /// Upper-right corner.
    pub max: [f64; 2],
}

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Passes through.
    #[default]
    Waypoint,
    /// A station where loads are picked or dropped.
    Station,
    /// A charger.
    Charger,
    /// A lift door.
    LiftDoor,
    /// A parking place.
    Parking,
}

/// A node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// Node id, unique in the site.
    pub id: u32,
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// Heading an AGV stopping here takes, rad (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta: Option<f64>,
    /// What it is for.
    #[serde(default)]
    pub kind: NodeKind,
    /// The QR code on the floor here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr: Option<u32>,
    /// A name (stations, chargers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The shape of an edge between its nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trajectory {
    /// A straight line.
    #[default]
    Line,
    /// A circular arc around `center` (the shorter way).
    Arc {
        /// Its centre.
        center: [f64; 2],
    },
    /// A cubic Bézier with two control points.
    Bezier {
        /// The control points.
        controls: [[f64; 2]; 2],
    },
}

/// How an AGV may move along an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Forward.
    Forward,
    /// Backward.
    Backward,
    /// Sideways.
    Lateral,
    /// Any direction (omnidirectional AGVs).
    Omnidirectional,
}

/// An edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeFile {
    /// Edge id, unique in the site (below 2^31: the reverse direction of a bidirectional edge
    /// is `id | 0x8000_0000`).
    pub id: u32,
    /// Start node.
    pub from: u32,
    /// End node.
    pub to: u32,
    /// Whether it may be travelled both ways.
    #[serde(default = "yes")]
    pub bidirectional: bool,
    /// Speed limit, m/s (default: the map's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_speed: Option<f64>,
    /// Length, m (default: computed from the trajectory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<f64>,
    /// Shape.
    #[serde(default, skip_serializing_if = "is_line")]
    pub trajectory: Trajectory,
    /// Allowed movements (default: forward).
    #[serde(default = "forward", skip_serializing_if = "is_forward")]
    pub movement: Vec<Movement>,
    /// Allowed navigation modes (default: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub navigation: Vec<Navigation>,
    /// Corridor width, m: AGVs wider than this may not use it (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
}

fn yes() -> bool {
    true
}

fn forward() -> Vec<Movement> {
    vec![Movement::Forward]
}

fn is_forward(m: &[Movement]) -> bool {
    m == [Movement::Forward]
}

fn is_line(t: &Trajectory) -> bool {
    *t == Trajectory::Line
}

/// Special-area kinds (A.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    /// No AGV may enter.
    Forbidden,
    /// Speed limited to `speed`.
    Slow,
    /// Travel in `direction` only.
    OneWay,
    /// No stopping inside.
    NoStop,
    /// QR-code navigation.
    QrZone,
    /// SLAM navigation.
    SlamZone,
    /// Lift shaft or car.
    LiftShaft,
    /// Charging area.
    ChargingArea,
    /// No rotation in place.
    NoRotate,
    /// Shared with people.
    Pedestrian,
}

impl AreaKind {
    /// The protocol value.
    pub fn to_wire(self) -> protocol::types::SpecialArea {
        use protocol::types::SpecialArea as S;
        match self {
            AreaKind::Forbidden => S::Forbidden,
            AreaKind::Slow => S::Slow,
            AreaKind::OneWay => S::OneWay,
            AreaKind::NoStop => S::NoStop,
            AreaKind::QrZone => S::QrZone,
            AreaKind::SlamZone => S::SlamZone,
            AreaKind::LiftShaft => S::LiftShaft,
            AreaKind::ChargingArea => S::ChargingArea,
            AreaKind::NoRotate => S::NoRotate,
            AreaKind::Pedestrian => S::Pedestrian,
        }
    }
}

/// A special area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaFile {
    /// Area id, unique in the map.
    pub id: u32,
    /// Kind.
    pub kind: AreaKind,
    /// Outline (at least three points; closed implicitly).
    pub polygon: Vec<[f64; 2]>,
    /// Speed limit inside, m/s (`slow`, `pedestrian`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// Allowed travel direction, rad (`one_way`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<f64>,
}

/// A lift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiftFile {
    /// Lift id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Travel time per floor, s.
    #[serde(default = "four")]
    pub travel_s_per_floor: f64,
    /// Door open/close and boarding time at each end, s.
    #[serde(default = "four")]
    pub door_s: f64,
    /// AGVs at once.
    #[serde(default = "one")]
    pub capacity: u32,
    /// Its door on each map it serves.
    pub doors: Vec<LiftDoor>,
}

fn four() -> f64 {
    4.0
}

fn one() -> u32 {
    1
}

/// A lift's door on one map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiftDoor {
    /// The map.
    pub map: u16,
    /// The node in front of (or inside) the door on that map.
    pub node: u32,
    /// Floor number the lift stops at.
    pub floor: i32,
}

/// A passage between two maps (buildings) that is not a lift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    /// One end.
    pub from: MapNode,
    /// The other end.
    pub to: MapNode,
    /// Time to pass, s.
    pub time_s: f64,
    /// Whether it may be passed both ways.
    #[serde(default = "yes")]
    pub bidirectional: bool,
}

/// A node on a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapNode {
    /// The map.
    pub map: u16,
    /// The node.
    pub node: u32,
}

/// A site as files: `site.toml` and each map file (as JSON: `{"site": {...}, "maps": [[path,
/// {...}], ...]}`, which rcs-server serves for simulators to load the site it runs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SiteFiles {
    /// `site.toml`.
    pub site: Option<SiteFile>,
    /// Each map file with its path relative to the site directory.
    pub maps: Vec<(PathBuf, MapFile)>,
}

impl SiteFiles {
    /// Reads a site directory.
    pub fn read(dir: &Path) -> Result<Self, SiteError> {
        let site_path = dir.join("site.toml");
        let site = read_text(&site_path)?;
        Self::parse(dir, &site, |file| read_text(&dir.join(file)))
    }

    /// Parses a site from the files' contents, as [`read`](Self::read) does without the disk:
    /// `site` is the text of `site.toml`, `map_text` gives the text of each map file `site.toml`
    /// names (by its path relative to the site directory) or the error reading it. `dir` names
    /// the files in errors.
    pub fn parse(
        dir: &Path,
        site: &str,
        mut map_text: impl FnMut(&Path) -> Result<String, SiteError>,
    ) -> Result<Self, SiteError> {
        let site: SiteFile = parse_toml(&dir.join("site.toml"), site)?;
        let mut maps = Vec::new();
        for m in &site.maps {
            let text = map_text(&m.file)?;
            let map: MapFile = parse_toml(&dir.join(&m.file), &text)?;
            maps.push((m.file.clone(), map));
        }
        Ok(Self {
            site: Some(site),
            maps,
        })
    }

    /// Writes a site directory (creating it). Every map file goes inside `dir`: a map path
    /// that is absolute or climbs out (`..`) is refused before anything is written (the files
    /// may come from elsewhere: `agv-sim run` writes what a server sends).
    pub fn write(&self, dir: &Path) -> Result<(), SiteError> {
        let io = |path: &Path, e: std::io::Error| SiteError::Io {
            file: path.to_path_buf(),
            reason: e.to_string(),
        };
        for (file, _) in &self.maps {
            let inside = !file.as_os_str().is_empty()
                && file
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                return Err(SiteError::Io {
                    file: file.clone(),
                    reason: "a map file outside the site directory".into(),
                });
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        if let Some(site) = &self.site {
            let path = dir.join("site.toml");
            let text = toml::to_string_pretty(site).map_err(|e| SiteError::Io {
                file: path.clone(),
                reason: e.to_string(),
            })?;
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        }
        for (file, map) in &self.maps {
            let path = dir.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            let text = toml::to_string_pretty(map).map_err(|e| SiteError::Io {
                file: path.clone(),
                reason: e.to_string(),
            })?;
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        }
        Ok(())
    }
}

fn read_text(path: &Path) -> Result<String, SiteError> {
    std::fs::read_to_string(path).map_err(|e| SiteError::Io {
        file: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, SiteError> {
    toml::from_str(text).map_err(|e| SiteError::Parse {
        file: path.to_path_buf(),
        reason: e.to_string(),
    })
}
