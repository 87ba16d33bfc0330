//! A fast hasher for maps keyed by names the host registers itself (message
//! type names) and by ids it generates (capabilities): a lookup with any key
//! is cheap, and nobody outside can insert keys, so the hash needs no
//! flooding resistance. Eight bytes per round (rotate, xor, multiply).

use std::hash::{BuildHasherDefault, Hasher};

/// The multiplier of the round (an odd constant with well-spread bits).
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Clone, Copy, Default)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn round(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.round(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.round(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.round(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.round(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.round(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap<K, V, FastBuild>`.
pub type FastBuild = BuildHasherDefault<FastHasher>;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn names_differing_anywhere_hash_apart_and_maps_work() {
        let names = [
            "RemoteControl.Messages.GetObjectPositionRequest",
            "RemoteControl.Messages.GetObjectRotationRequest",
            "a",
            "b",
            "ab",
            "ba",
            "",
        ];
        let mut map: HashMap<&str, usize, FastBuild> = HashMap::default();
        for (i, n) in names.iter().enumerate() {
            map.insert(n, i);
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(map.get(n), Some(&i));
        }
        let hash = |s: &str| {
            let mut h = FastHasher::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_ne!(hash(names[0]), hash(names[1]));
        assert_ne!(hash("ab"), hash("ba"));
    }
}
