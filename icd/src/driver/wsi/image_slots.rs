//! Which swapchain images the application holds, and handing out the others in the order they were
//! given back (the least recently presented first, as a display's queue would).
//!
//! Presents here finish on the CPU before vkQueuePresentKHR returns, so an image is free again the
//! moment it has been presented; the only wait in acquire is for an application that holds every image
//! and gives one back from another thread.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, PartialEq, Eq)]
pub enum AcquireError {
    /// `timeout` was 0 and no image was free (VK_NOT_READY).
    NotReady,
    /// No image became free within the timeout (VK_TIMEOUT).
    Timeout,
}

pub struct ImageSlots {
    free: Mutex<VecDeque<u32>>,
    returned: Condvar,
    count: u32,
}

impl ImageSlots {
    pub fn new(count: u32) -> ImageSlots {
        ImageSlots {
            free: Mutex::new((0..count).collect()),
            returned: Condvar::new(),
            count,
        }
    }

    /// Takes the free image given back longest ago, waiting up to `timeout_ns` (u64::MAX: no limit).
    pub fn acquire(&self, timeout_ns: u64) -> Result<u32, AcquireError> {
        let mut free = self.lock();
        if let Some(index) = free.pop_front() {
            return Ok(index);
        }
        if timeout_ns == 0 {
            return Err(AcquireError::NotReady);
        }
        let deadline = Instant::now().checked_add(Duration::from_nanos(timeout_ns));
        loop {
            free = match deadline {
                None => self
                    .returned
                    .wait(free)
                    .unwrap_or_else(|poison| poison.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(AcquireError::Timeout);
                    }
                    self.returned
                        .wait_timeout(free, left)
                        .unwrap_or_else(|poison| poison.into_inner())
                        .0
                }
            };
            if let Some(index) = free.pop_front() {
                return Ok(index);
            }
        }
    }

    /// Gives image `index` back after a present or a release. Returns false (and changes nothing) for
    /// an index that is out of range or already free: an application error the caller reports.
    pub fn give_back(&self, index: u32) -> bool {
        let mut free = self.lock();
        if index >= self.count || free.contains(&index) {
            return false;
        }
        free.push_back(index);
        self.returned.notify_one();
        true
    }

    /// Whether the application holds image `index` (acquired, not yet presented or released).
    pub fn is_held(&self, index: u32) -> bool {
        index < self.count && !self.lock().contains(&index)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<u32>> {
        // The queue stays consistent under a panic elsewhere: every change is one push or pop.
        self.free
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn images_come_back_in_presentation_order() {
        let slots = ImageSlots::new(3);
        assert_eq!(slots.acquire(0), Ok(0));
        assert_eq!(slots.acquire(0), Ok(1));
        assert!(slots.give_back(1));
        assert!(slots.give_back(0));
        assert_eq!(slots.acquire(0), Ok(2));
        assert_eq!(slots.acquire(0), Ok(1));
        assert_eq!(slots.acquire(0), Ok(0));
    }

    #[test]
    fn an_exhausted_swapchain_reports_not_ready_or_timeout() {
        let slots = ImageSlots::new(1);
        assert_eq!(slots.acquire(0), Ok(0));
        assert_eq!(slots.acquire(0), Err(AcquireError::NotReady));
        let started = Instant::now();
        assert_eq!(slots.acquire(20_000_000), Err(AcquireError::Timeout));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_waiting_acquire_wakes_when_another_thread_gives_an_image_back() {
        let slots = Arc::new(ImageSlots::new(1));
        assert_eq!(slots.acquire(0), Ok(0));
        let other = Arc::clone(&slots);
        let giver = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            other.give_back(0)
        });
        assert_eq!(slots.acquire(u64::MAX), Ok(0));
        assert!(giver.join().unwrap());
    }

    #[test]
    fn giving_back_a_free_or_unknown_image_is_refused() {
        let slots = ImageSlots::new(2);
        assert!(!slots.give_back(0), "never acquired");
        assert!(!slots.give_back(5));
        assert!(!slots.is_held(0));
        assert_eq!(slots.acquire(0), Ok(0));
        assert!(slots.is_held(0));
    }
}
