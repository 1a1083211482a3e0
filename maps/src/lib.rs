//! The site model: several maps (floors, buildings) with nodes, directed edges, special areas,
//! lifts and links between buildings; its files (docs/maps.md), validation with clear errors,
//! spatial queries (`rstar`, `geo`), and the route planner across maps.
//!
//! - [`file`]: the TOML files as written.
//! - [`site`]: the compiled, validated [`Site`].
//! - [`planner`]: fastest routes across maps, as legs (drive, navigation switch, lift, link).
//! - [`space`]: who holds which space (footprints, reservations, grants), never overlapping.
//! - [`generate`]: the committed sample sites and large generated ones.
//! - [`hash`]: the fast hasher of their id-keyed tables.

pub mod file;
pub mod generate;
pub mod hash;
pub mod planner;
pub mod shape;
pub mod site;
pub mod space;

use std::path::PathBuf;

pub use planner::{Leg, Planner, Route, RouteError, Vehicle};
pub use site::{Area, Edge, EdgeKind, Lift, Map, Node, REVERSE, Site};
pub use space::{Conflict, GrantInfo, GrantLimits, Hold, Shape, SpaceTable};

/// One thing wrong with a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// What in it (`node 12`, `edge 7`, `lift 2`...).
    pub id: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.id, self.reason)
    }
}

/// A site that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A file could not be read or written.
    #[error("{}: {reason}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file is not valid TOML for its schema.
    #[error("{}: {reason}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The site is inconsistent: every problem found.
    #[error("invalid site:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}
