//! Placeholder until the codec benchmarks land.
fn main() {}
