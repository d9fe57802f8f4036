//! Joined paths, interned: a path is as cheap to copy and compare as a
//! field name.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// `outer.inner`, as a string that lives as long as the program.
///
/// Paths are made from the derives' constants, so there are as many
/// distinct ones as the program names: each is joined once and kept, and
/// a path is as cheap to copy and compare as a field name. Each thread
/// remembers the paths it has seen (no lock on the way), the process the
/// joined strings (one copy each, whichever thread made it first).
pub(super) fn join(outer: &'static str, inner: &'static str) -> &'static str {
    thread_local! {
        static SEEN: RefCell<HashMap<Parts, &'static str, BuildPartsHasher>> =
            RefCell::new(HashMap::default());
    }
    static JOINED: OnceLock<Mutex<HashMap<Parts, &'static str, BuildPartsHasher>>> =
        OnceLock::new();
    let parts = Parts::of(outer, inner);
    if let Some(path) = SEEN.with(|seen| seen.borrow().get(&parts).copied()) {
        return path;
    }
    let path = *JOINED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(parts)
        .or_insert_with(|| Box::leak(format!("{outer}.{inner}").into_boxed_str()));
    SEEN.with(|seen| seen.borrow_mut().insert(parts, path));
    path
}

/// Two `'static` strings by address and length: equal parts, equal path.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Parts([usize; 4]);

impl std::hash::Hash for Parts {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // One word: the addresses differ, the lengths only refine.
        let [a, b, c, d] = self.0.map(|w| w as u64);
        state.write_u64(a ^ b.rotate_left(48) ^ c.rotate_left(16) ^ d.rotate_left(56));
    }
}

impl Parts {
    fn of(outer: &'static str, inner: &'static str) -> Self {
        Parts([outer.as_ptr() as usize, outer.len(), inner.as_ptr() as usize, inner.len()])
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
}
