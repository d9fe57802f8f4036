//! Joined paths, interned: a path is as cheap to copy and compare as a
//! field name.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Slots in each thread's cache of joined paths (a power of two).
const SLOTS: usize = 128;

/// `outer.inner`, as a string that lives as long as the program.
///
/// Paths are made from the derives' constants, so there are as many
/// distinct ones as the program names: each is joined once and kept, and
/// a path is as cheap to copy and compare as a field name. Each thread
/// remembers the paths it has seen in a small direct-mapped cache (no
/// lock, no hashing, no lazy set-up on the way: ~50 instructions a step
/// where a per-thread `HashMap` took ~110, callgrind,
/// `--codec-instructions`), the process the joined strings (one copy
/// each, whichever thread made it first). A path that lost its slot to
/// another is found again under the lock.
pub(super) fn join(outer: &'static str, inner: &'static str) -> &'static str {
    thread_local! {
        static SEEN: [Cell<Option<(Parts, &'static str)>>; SLOTS] =
            const { [const { Cell::new(None) }; SLOTS] };
    }
    static JOINED: OnceLock<Mutex<HashMap<Parts, &'static str, BuildPartsHasher>>> =
        OnceLock::new();
    let parts = Parts::of(outer, inner);
    let slot = parts.slot();
    if let Some((seen, path)) = SEEN.with(|seen| seen[slot].get())
        && seen == parts
    {
        return path;
    }
    let path = *JOINED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(parts)
        .or_insert_with(|| Box::leak(format!("{outer}.{inner}").into_boxed_str()));
    SEEN.with(|seen| seen[slot].set(Some((parts, path))));
    path
}

/// Two `'static` strings by address and length: equal parts, equal path.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Parts([usize; 4]);

impl std::hash::Hash for Parts {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.word());
    }
}

impl Parts {
    fn of(outer: &'static str, inner: &'static str) -> Self {
        Parts([outer.as_ptr() as usize, outer.len(), inner.as_ptr() as usize, inner.len()])
    }

    /// One word: the addresses differ, the lengths only refine.
    fn word(self) -> u64 {
        let [a, b, c, d] = self.0.map(|w| w as u64);
        a ^ b.rotate_left(48) ^ c.rotate_left(16) ^ d.rotate_left(56)
    }

    /// The parts' slot in a thread's cache.
    fn slot(self) -> usize {
        let mixed = self.word().wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> (64 - SLOTS.trailing_zeros())) as usize
    }
}

/// A multiply-rotate hasher for [`Parts`] (addresses need no DoS-resistant hash).
#[derive(Default)]
struct PartsHasher(u64);

impl std::hash::Hasher for PartsHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type BuildPartsHasher = std::hash::BuildHasherDefault<PartsHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_joined_once_and_compares_by_content() {
        let a: &'static str = join("address", "city");
        let b: &'static str = join("address", "city");
        assert_eq!(a, "address.city");
        assert!(std::ptr::eq(a, b));
        assert_eq!(join(a, "$"), "address.city.$");
    }

    #[test]
    fn paths_that_share_a_slot_are_each_found() {
        // More paths than slots: some share one, and each is still right.
        let names: Vec<&'static str> =
            (0..3 * SLOTS).map(|i| &*Box::leak(format!("f{i}").into_boxed_str())).collect();
        for _ in 0..2 {
            for name in &names {
                assert_eq!(join("outer", name), format!("outer.{name}"));
            }
        }
    }
}
