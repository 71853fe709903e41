//! A bounded queue that never blocks its producer: when full, the oldest item is
//! dropped (and counted) to make room for the newest. The camera must never wait on
//! inference; a robot wants the freshest pose, not a backlog.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub struct LatestQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    space: Condvar,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    dropped: u64,
    closed: bool,
}

impl<T> LatestQueue<T> {
    pub fn new(capacity: usize) -> LatestQueue<T> {
        LatestQueue {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.max(1)),
                dropped: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            space: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A panic elsewhere must not take the stream down with a poisoned lock: the
        // queue's state is consistent after every operation.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add the newest item; returns the oldest one if it had to be dropped.
    pub fn push(&self, item: T) -> Option<T> {
        let mut s = self.lock();
        let dropped = if s.items.len() == self.capacity {
            s.dropped += 1;
            s.items.pop_front()
        } else {
            None
        };
        s.items.push_back(item);
        drop(s);
        self.ready.notify_one();
        dropped
    }

    /// Add an item, waiting while the queue is full (for sources that are not live:
    /// files lose nothing). Gives the item back if the queue is closed meanwhile.
    pub fn push_wait(&self, item: T) -> Result<(), T> {
        let s = self.lock();
        let mut s = self
            .space
            .wait_while(s, |s| s.items.len() >= self.capacity && !s.closed)
            .unwrap_or_else(|p| p.into_inner());
        if s.closed {
            return Err(item);
        }
        s.items.push_back(item);
        drop(s);
        self.ready.notify_one();
        Ok(())
    }

    /// Wait for the oldest item; `None` once the queue is closed and empty, or when
    /// `timeout` passes with nothing to take.
    pub fn pop(&self, timeout: Duration) -> Option<T> {
        let s = self.lock();
        let (mut s, _) = self
            .ready
            .wait_timeout_while(s, timeout, |s| s.items.is_empty() && !s.closed)
            .unwrap_or_else(|p| p.into_inner());
        let item = s.items.pop_front();
        drop(s);
        self.space.notify_one();
        item
    }

    /// Block until an item comes; `None` once the queue is closed and drained.
    pub fn pop_until_closed(&self) -> Option<T> {
        loop {
            if let Some(item) = self.pop(Duration::from_millis(200)) {
                return Some(item);
            }
            if self.is_closed() {
                // Closed, but an item may have arrived between pop and the check.
                return self.pop(Duration::ZERO);
            }
        }
    }

    /// No more items will come; consumers drain what is left, then see `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
        self.space.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// Closes the queue when dropped, also while a producer thread unwinds from a panic, so
/// the consumer finishes instead of waiting forever.
pub struct CloseOnDrop<T>(pub Arc<LatestQueue<T>>);

impl<T> Drop for CloseOnDrop<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_producer_still_closes_the_queue() {
        let q: Arc<LatestQueue<u8>> = Arc::new(LatestQueue::new(1));
        let q2 = q.clone();
        let t = std::thread::spawn(move || {
            let _close = CloseOnDrop(q2);
            panic!("capture bug");
        });
        assert!(t.join().is_err());
        assert!(q.is_closed());
        assert_eq!(q.pop(Duration::from_secs(5)), None);
    }

    #[test]
    fn drops_the_oldest_never_the_newest() {
        let q = LatestQueue::new(2);
        assert_eq!(q.push(1), None);
        assert_eq!(q.push(2), None);
        assert_eq!(q.push(3), Some(1));
        assert_eq!(q.push(4), Some(2));
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.pop(Duration::ZERO), Some(3));
        assert_eq!(q.pop(Duration::ZERO), Some(4));
        assert_eq!(q.pop(Duration::ZERO), None);
    }

    #[test]
    fn close_drains_then_ends() {
        let q = Arc::new(LatestQueue::new(4));
        q.push("a");
        q.close();
        assert_eq!(q.pop(Duration::from_secs(5)), Some("a"));
        assert_eq!(q.pop(Duration::from_secs(5)), None);
        assert!(q.is_closed());
    }

    #[test]
    fn push_wait_blocks_until_there_is_room() {
        let q = Arc::new(LatestQueue::new(1));
        q.push_wait(1).unwrap();
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.push_wait(2));
        std::thread::sleep(Duration::from_millis(100));
        // Still waiting: the full queue holds the first item alone.
        assert!(
            !t.is_finished(),
            "push_wait returned while the queue was full"
        );
        assert_eq!(q.pop(Duration::ZERO), Some(1));
        t.join().unwrap().unwrap();
        assert_eq!(q.pop(Duration::from_secs(5)), Some(2));
        assert_eq!(q.dropped(), 0);
        q.close();
        assert_eq!(q.push_wait(3), Err(3));
    }

    #[test]
    fn consumer_wakes_on_push() {
        let q = Arc::new(LatestQueue::new(1));
        let q2 = q.clone();
        let t = std::thread::spawn(move || {
            let waiting = std::time::Instant::now();
            (q2.pop(Duration::from_secs(10)), waiting.elapsed())
        });
        std::thread::sleep(Duration::from_millis(20));
        q.push(7);
        let (item, waited) = t.join().unwrap();
        assert_eq!(item, Some(7));
        // Woken by the push, not by the timeout running out.
        assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
    }
}
