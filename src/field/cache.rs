//! What a viewing direction costs once, kept per view: every renderer's cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Per view (keyed by the bits of φ): a stream pays for a view once.
pub struct ViewCache<V> {
    views: Mutex<HashMap<u64, Arc<V>>>,
}

impl<V> Default for ViewCache<V> {
    fn default() -> Self {
        ViewCache {
            views: Mutex::new(HashMap::new()),
        }
    }
}

impl<V> ViewCache<V> {
    /// The view for yaw `view_deg`, made by `make` on first use.
    pub fn get_or_make<E>(
        &self,
        view_deg: f64,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        // A poisoned lock only means another thread panicked mid-insert; the map
        // itself is still a valid cache.
        let mut cache = self.views.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(&view_deg.to_bits()) {
            return Ok(v.clone());
        }
        let view = Arc::new(make()?);
        cache.insert(view_deg.to_bits(), view.clone());
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_made_once() {
        let cache: ViewCache<u32> = ViewCache::default();
        let mut made = 0;
        for _ in 0..3 {
            let v = cache
                .get_or_make(90.0, || {
                    made += 1;
                    Ok::<_, ()>(7)
                })
                .unwrap();
            assert_eq!(*v, 7);
        }
        assert_eq!(made, 1);
        assert!(cache.get_or_make(0.0, || Err::<u32, _>("bad")).is_err());
    }
}
