//! An order-preserving parallel map on scoped threads, for the stages whose
//! items are independent (parsing files, lowering chains, writing YAML).
//! Results come back in input order, so output stays deterministic.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many items the work is done on the calling thread.
const MIN_PARALLEL: usize = 64;

/// `items.iter().map(f).collect()`, on up to `available_parallelism()` threads.
///
/// Work is handed out in small batches from a shared counter, so a thread
/// slowed down by anything else on the machine simply takes fewer batches.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    // The length first: a small map never asks for the thread count.
    let threads = if items.len() < MIN_PARALLEL {
        1
    } else {
        threads()
    };
    if threads < 2 {
        return items.iter().map(f).collect();
    }
    let batch = (items.len() / (threads * 8)).max(1);
    let next = AtomicUsize::new(0);
    // Each worker returns its batches as (first index, results).
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let start = next.fetch_add(batch, Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let end = (start + batch).min(items.len());
            done.push((start, items[start..end].iter().map(&f).collect()));
        }
    };
    let mut batches = std::thread::scope(|scope| {
        // The calling thread works too: one new thread per other core.
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut batches = work();
        for h in handles {
            batches.extend(
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        batches
    });
    batches.sort_unstable_by_key(|(start, _)| *start);
    let mut out = Vec::with_capacity(items.len());
    for (_, results) in batches {
        out.extend(results);
    }
    out
}

/// How many threads `map` uses, asked once per process: the standard library
/// reads the cgroup files under /proc to answer, a tenth of a millisecond that
/// a small render should not pay at all and a large one should pay only once.
fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            super::map(&items, |i| i * 2),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
        assert_eq!(super::map(&items[..3], |i| i + 1), vec![1, 2, 3]);
    }
}
