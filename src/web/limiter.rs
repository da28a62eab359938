//! Login attempts per user name and per client address: after
//! `MAX_FAILURES` failures in a window, further attempts are refused until
//! the window has passed.
//!
//! The map is bounded: expired entries are dropped as new ones arrive, and
//! when it is full of live ones the oldest goes. Keys longer than
//! `MAX_KEY_BYTES` are cut, so a huge user name costs no more than a short one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_FAILURES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(60);
/// Entries kept at most (one per name and one per address).
pub const MAX_ENTRIES: usize = 4096;
const MAX_KEY_BYTES: usize = 96;

pub struct LoginLimiter {
    map: Mutex<HashMap<String, (u32, Instant)>>,
    capacity: usize,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::with_capacity(MAX_ENTRIES)
    }
}

fn key(k: &str) -> &str {
    if k.len() <= MAX_KEY_BYTES {
        return k;
    }
    let mut end = MAX_KEY_BYTES;
    while !k.is_char_boundary(end) {
        end -= 1;
    }
    &k[..end]
}

impl LoginLimiter {
    pub fn with_capacity(capacity: usize) -> LoginLimiter {
        LoginLimiter { map: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    pub fn blocked(&self, keys: &[&str]) -> bool {
        let Ok(m) = self.map.lock() else { return true };
        keys.iter().any(|k| m.get(key(k)).is_some_and(|(n, t)| *n >= MAX_FAILURES && t.elapsed() < WINDOW))
    }

    pub fn failed(&self, keys: &[&str]) {
        let Ok(mut m) = self.map.lock() else { return };
        for k in keys {
            let k = key(k);
            if !m.contains_key(k) && m.len() >= self.capacity {
                m.retain(|_, (_, t)| t.elapsed() < WINDOW);
                if m.len() >= self.capacity {
                    // all live: forget the oldest window
                    if let Some(oldest) = m.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone()) {
                        m.remove(&oldest);
                    }
                }
            }
            let e = m.entry(k.to_string()).or_insert((0, Instant::now()));
            if e.1.elapsed() >= WINDOW {
                *e = (0, Instant::now());
            }
            e.0 = e.0.saturating_add(1);
        }
    }

    pub fn succeeded(&self, keys: &[&str]) {
        if let Ok(mut m) = self.map.lock() {
            for k in keys {
                m.remove(key(k));
            }
        }
    }

    /// Entries held now (for tests and measurements).
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_five_and_stays_bounded() {
        let l = LoginLimiter::with_capacity(10);
        for _ in 0..5 {
            assert!(!l.blocked(&["ip:1", "name:a"]));
            l.failed(&["ip:1", "name:a"]);
        }
        assert!(l.blocked(&["name:a"]));
        assert!(l.blocked(&["ip:1", "name:other"]));
        for i in 0..1000 {
            l.failed(&[&format!("name:{i}")]);
        }
        assert!(l.len() <= 10, "{}", l.len());
        let huge = format!("name:{}", "x".repeat(1 << 20));
        l.failed(&[&huge]);
        assert!(l.map.lock().unwrap().keys().all(|k| k.len() <= MAX_KEY_BYTES));
        l.succeeded(&[&huge]);
    }
}
