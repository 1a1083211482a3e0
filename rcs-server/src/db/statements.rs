//! The statement texts of the multi-row writers (telemetry, the event log): how a batch is
//! split into statements so that few distinct texts are prepared and kept.

use std::sync::Arc;

/// Splits `rows` into the pieces one round trip to the database writes: runs of multi-row
/// `INSERT`s of `full` rows each, as many statements as the largest power of two that fits
/// and is at most `group` (rounded down to a power of two), then the rest a statement a piece,
/// in decreasing powers of two (a rest of 27 of 32: 16, 8, 2, 1). With `group` 1 every piece
/// is one statement.
///
/// sqlx prepares each text once per connection and keeps it (its cache holds 100; PostgreSQL
/// keeps each prepared statement in the backend too). With one statement for the whole rest,
/// every length of a rest was a text of its own: up to `full - 1` large statements of up to
/// `full - 1` rows, prepared and kept, about 1 MB of SQLite's heap in a 200-AGV run (massif;
/// docs/performance.md, "The guide profile under 40 KiB per AGV"). Now a writer uses at most
/// `log2(group) + 1 + log2(full)` texts.
///
/// SQLite runs the statements of one text one after the other on its thread, each bound to its
/// share of the arguments; PostgreSQL binds arguments to one statement only (`group` 1). A
/// SQLite transaction of 1,024 rows in 32-row statements was 32 round trips between the runtime
/// and SQLite's thread, each a wake-up on a busy core, while it held SQLite's one connection
/// that every decision waits for (docs/performance.md, "The command's wait for the telemetry
/// writer").
pub(crate) fn run_chunks<T>(rows: &[T], full: usize, group: usize) -> impl Iterator<Item = &[T]> {
    let full = full.max(1);
    let group = 1 << group.max(1).ilog2();
    let mut rest = rows;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let statements = rest.len() / full;
        let n = if statements >= 1 {
            // the largest power of two of statements not above what is left, nor `group`
            full << statements.min(group).ilog2()
        } else {
            // the largest power of two of rows not above what is left
            1 << rest.len().ilog2()
        };
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        Some(piece)
    })
}

/// SQLite statements sent in one text at most (the `group` of [`run_chunks`]), one round trip to
/// its thread: a quarter of a 1,024-row transaction's 32-row statements. SQLite keeps a prepared
/// copy of every statement of a text: runs of 32 were as fast and kept 62 copies a table, about
/// 6 MB at 6,000 AGVs; runs of 8 keep 15 (docs/performance.md, "The command's wait for the
/// telemetry writer").
pub(crate) const SQLITE_RUN_STATEMENTS: usize = 8;

/// The statement texts a writer has built, by row count (few of them: see [`run_chunks`]), kept for the database's life: built once, not at every flush.
#[derive(Debug, Default)]
pub(crate) struct Statements(std::sync::Mutex<Vec<(usize, Arc<str>)>>);

impl Statements {
    /// The text for `rows` rows, built by `make` the first time.
    pub(crate) fn get(&self, rows: usize, make: impl FnOnce(usize) -> String) -> Arc<str> {
        let mut texts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, text)) = texts.iter().find(|(n, _)| *n == rows) {
            return Arc::clone(text);
        }
        let text: Arc<str> = make(rows).into();
        texts.push((rows, Arc::clone(&text)));
        text
    }
}

/// The texts of the database's multi-row writers (they depend on its dialect only).
#[derive(Debug, Default)]
pub(crate) struct Texts {
    /// `telemetry_latest`'s upserts.
    pub(crate) latest: Statements,
    /// `telemetry`'s appends.
    pub(crate) history: Statements,
    /// The event log's appends.
    pub(crate) events: Statements,
}

#[cfg(test)]
mod tests {
    use super::run_chunks;

    /// Every row once, in order; runs of `full`-row statements (a power of two of them, at most
    /// `group`) first, largest first, then the rest in strictly decreasing powers of two; as
    /// many pieces as the lengths' binary digits say; only the `texts` lengths used.
    #[test]
    fn run_chunks_cover_the_rows_in_order_with_few_lengths() {
        let cases: [(usize, usize, usize, &[usize]); 2] = [
            // statements of one (group 1)
            (32, 1, 200, &[1, 2, 4, 8, 16, 32]),
            // runs of up to 32 statements
            (
                32,
                32,
                3_000,
                &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024],
            ),
        ];
        for (full, group, lens, texts) in cases {
            let mut lengths = std::collections::BTreeSet::new();
            for len in 0..lens {
                let rows: Vec<usize> = (0..len).collect();
                let pieces: Vec<&[usize]> = run_chunks(&rows, full, group).collect();
                assert_eq!(pieces.concat(), rows, "len {len}");
                for p in &pieces {
                    assert!(
                        !p.is_empty() && p.len() <= full * group,
                        "len {len}: {}",
                        p.len()
                    );
                    assert!(
                        (p.len() % full == 0 && (p.len() / full).is_power_of_two())
                            || p.len().is_power_of_two(),
                        "len {len}: {}",
                        p.len()
                    );
                    lengths.insert(p.len());
                }
                assert!(
                    pieces.windows(2).all(|w| w[0].len() >= w[1].len()),
                    "len {len}"
                );
                let rest: Vec<usize> = pieces
                    .iter()
                    .map(|p| p.len())
                    .filter(|&n| n < full)
                    .collect();
                assert!(rest.windows(2).all(|w| w[0] > w[1]), "len {len}: {rest:?}");
                let runs =
                    len / (full * group) + (len % (full * group) / full).count_ones() as usize;
                assert_eq!(
                    pieces.len(),
                    runs + (len % full).count_ones() as usize,
                    "len {len}"
                );
            }
            assert_eq!(lengths.into_iter().collect::<Vec<_>>(), texts);
        }
        // a full size that is not a power of two
        let rows: Vec<u8> = vec![0; 511 + 500];
        let sizes: Vec<usize> = run_chunks(&rows, 500, 1).map(<[u8]>::len).collect();
        assert_eq!(sizes, [500, 500, 8, 2, 1]);
        // a group that is not a power of two is rounded down
        let rows: Vec<u8> = vec![0; 1_011];
        let sizes: Vec<usize> = run_chunks(&rows, 32, 3).map(<[u8]>::len).collect();
        assert_eq!(
            sizes,
            [
                64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 32, 16, 2, 1
            ]
        );
    }
}
