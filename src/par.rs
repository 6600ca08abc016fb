//! Two-core parallelism for the pure stages: run two closures at once on
//! scoped threads and return both results, a panic in either re-raised as
//! is. Used where a run holds a million records (reading snapshots beside
//! the state, indexing both sides, merging halves of the links). Owns no
//! data and no I/O; results never depend on which thread finishes first.

/// Runs `first` on a new thread and `second` on this one.
pub fn join<A: Send, B>(first: impl FnOnce() -> A + Send, second: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|scope| {
        let first = scope.spawn(first);
        let second = second();
        let first = first
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (first, second)
    })
}

/// `f` over every element, the two halves of `items` on two threads,
/// results in `items`' order.
pub fn flat_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Vec<R> + Sync) -> Vec<R> {
    let (head, tail) = items.split_at(items.len() / 2);
    let map = |part: &[T]| part.iter().flat_map(&f).collect::<Vec<R>>();
    let (mut head, tail) = join(|| map(head), || map(tail));
    head.extend(tail);
    head
}
