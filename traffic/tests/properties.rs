//! Properties: random task streams and random disturbances never make two AGVs' footprints or
//! reservations overlap, nor an AGV drive outside its reservations.

use proptest::prelude::*;
use traffic::sim::{self, Config};

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    #[test]
    fn no_overlap_under_random_streams(
        seed in any::<u64>(),
        agvs in 5usize..40,
        rate in 200.0f64..3000.0,
        pauses in 0.0f64..60.0,
        dropouts in 0.0f64..20.0,
    ) {
        let site = maps::Site::compile(
            &maps::generate::rack_warehouse(6, 5, false),
            std::path::Path::new("."),
        )
        .unwrap();
        let cfg = Config {
            agvs,
            duration_ms: 90_000,
            drain_ms: 30_000,
            tasks_per_hour: rate,
            seed,
            pauses_per_hour: pauses,
            dropouts_per_hour: dropouts,
            ..Config::default()
        };
        let r = sim::run(&site, &cfg, |_, _| {});
        prop_assert_eq!(
            (r.footprint_overlaps, r.reservation_overlaps, r.outside),
            (0, 0, 0),
            "{:?}",
            r.violations
        );
    }
}
