//! The site model (maps, floors, lifts, navigation zones), its files, validation and the route
//! planner.
//!
//! Not filled yet: the sites/routing issue builds this crate. It exists so the workspace layout is
//! final from the first commit.
