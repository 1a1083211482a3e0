//! `site_files`: what a server reads from a site directory (`site.toml` and the map files it
//! names), with arbitrary contents, through the loader and the validator, then the queries and
//! the route planner on whatever compiles.

use std::path::{Path, PathBuf};

use maps::file::SiteFiles;
use maps::{Leg, Planner, Site, SiteError, Vehicle};

/// Separates the files in an input (TOML text cannot hold a NUL).
pub const SEPARATOR: u8 = 0;

/// Joins `site.toml`'s text and the map files' texts into one input (what the seeds do).
pub fn join(site: &str, maps: &[&str]) -> Vec<u8> {
    let mut out = site.as_bytes().to_vec();
    for map in maps {
        out.push(SEPARATOR);
        out.extend_from_slice(map.as_bytes());
    }
    out
}

/// `site_files`: the input is `site.toml`, then each map file in the order `site.toml` first
/// names them, separated by NUL bytes (invalid UTF-8 is replaced, as a lossy reader would; a
/// file named but not given is a read error). Nothing may panic; a site that compiles answers
/// spatial queries, and every route the planner finds runs from its start to its goal (a route
/// to the start itself has no legs).
pub fn site_files(data: &[u8]) -> Compiled {
    let mut parts = data.split(|b| *b == SEPARATOR);
    let site = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let texts: Vec<_> = parts.map(String::from_utf8_lossy).collect();
    let dir = Path::new("site");
    let mut named: Vec<PathBuf> = Vec::new();
    let files = SiteFiles::parse(dir, &site, |file| {
        let i = match named.iter().position(|f| f == file) {
            Some(i) => i,
            None => {
                named.push(file.to_path_buf());
                named.len() - 1
            }
        };
        texts
            .get(i)
            .map(|t| t.to_string())
            .ok_or_else(|| SiteError::Io {
                file: dir.join(file),
                reason: "not in the input".into(),
            })
    });
    let Ok(files) = files else {
        return Compiled::default();
    };
    let Ok(site) = Site::compile(&files, dir) else {
        return Compiled::default();
    };
    exercise(&site)
}

/// What came of an input (lets tests check that the seeds compile).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compiled {
    /// The site compiled.
    pub site: bool,
    /// Routes found between different nodes.
    pub routes: usize,
    /// Routes with a lift ride or a link.
    pub between_maps: usize,
}

/// The queries a server makes of its site, on a few of its nodes.
fn exercise(site: &Site) -> Compiled {
    let mut compiled = Compiled {
        site: true,
        ..Compiled::default()
    };
    let nodes: Vec<_> = site.nodes().iter().take(8).collect();
    for n in &nodes {
        assert!(site.node(n.id).is_some());
        let _ = site.nearest_node(n.map, n.x, n.y);
        let _ = site.areas_at(n.map, n.x, n.y).count();
        let _ = site.areas_touching(n.map, n.x, n.y).count();
        let _ = site.on_map(n.map, n.x, n.y);
    }
    for e in site.edges().iter().take(16) {
        let (a, b) = site.ends(e);
        assert!(site.node(a).is_some() && site.node(b).is_some());
    }
    let mut planner = Planner::new(site);
    planner.set_limit(Some(10_000));
    let vehicle = Vehicle::default();
    for from in nodes.iter().take(3) {
        for to in nodes.iter().rev().take(3) {
            if let Ok(route) = planner.route(from.id, to.id, &vehicle) {
                let along = route.nodes();
                if from.id == to.id {
                    // already there: nothing to drive
                    assert!(route.legs.is_empty(), "{route:?}");
                    continue;
                }
                assert_eq!(along.first(), Some(&from.id), "{route:?}");
                assert_eq!(along.last(), Some(&to.id), "{route:?}");
                assert!(route.time_s >= 0.0 && route.length_m >= 0.0, "{route:?}");
                compiled.routes += 1;
                if route
                    .legs
                    .iter()
                    .any(|l| matches!(l, Leg::Lift { .. } | Leg::Link { .. }))
                {
                    compiled.between_maps += 1;
                }
            }
        }
    }
    compiled
}
