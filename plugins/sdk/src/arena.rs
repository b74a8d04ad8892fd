//! [`CallArena`]: a bump allocator for plugins, which live for one call.
//!
//! The host runs every call in a fresh instance and throws its memory away
//! afterwards, so a plugin never needs memory back: freeing is wasted work.
//! Parsing and building JSON is mostly small allocations and frees (in the
//! native port of the `volume` trait, `malloc` and `free` were a third of the
//! time), and a bump allocator turns each allocation into a few instructions
//! and each free into none.
//!
//! Opt in per plugin crate (it is not the default: a plugin that allocates
//! and frees in a long loop would keep every byte it ever allocated, up to
//! its memory limit):
//!
//! ```ignore
//! #[cfg(target_arch = "wasm32")]
//! #[global_allocator]
//! static ALLOC: oam_plugin_sdk::CallArena = oam_plugin_sdk::CallArena::new();
//! ```

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr;

// Chunks and large blocks come from here: std's allocator natively, and on
// wasm32 the C library's `malloc`, which is what std's allocator is there,
// so `no_std` plugins have it too.
#[cfg(target_arch = "wasm32")]
use crate::bare::Malloc as System;
#[cfg(not(target_arch = "wasm32"))]
use std::alloc::System;

/// Bytes the arena takes from the system allocator at a time.
const CHUNK: usize = 64 * 1024;
/// Allocations above this size (or alignment) go to the system allocator
/// and are freed there: a growing `Vec` or `String` of this size would
/// otherwise leave each of its earlier copies behind.
const LARGE: usize = CHUNK / 4;
const LARGE_ALIGN: usize = 4096;

/// A bump allocator over chunks of the system allocator's memory; freeing
/// a small allocation frees nothing (except the latest one, so a shrinking
/// or growing last `Vec` stays in place). See the module docs.
#[derive(Debug)]
pub struct CallArena {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: a component built for wasm32 without the `atomics` feature runs on
// one thread, so the cells are never touched concurrently. The impl (and so
// `#[global_allocator]` use) exists only there.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for CallArena {}

impl CallArena {
    /// An empty arena; it takes its first chunk on the first allocation.
    pub const fn new() -> Self {
        CallArena {
            next: Cell::new(0),
            end: Cell::new(0),
        }
    }

    fn is_large(layout: Layout) -> bool {
        layout.size() > LARGE || layout.align() > LARGE_ALIGN
    }

    /// `layout` from the current chunk, or `None` when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let start = self.next.get().checked_next_multiple_of(layout.align())?;
        let end = start.checked_add(layout.size())?;
        if self.end.get() == 0 || end > self.end.get() {
            return None;
        }
        self.next.set(end);
        Some(start as *mut u8)
    }
}

impl Default for CallArena {
    fn default() -> Self {
        CallArena::new()
    }
}

// SAFETY: every pointer handed out is either the system allocator's (large
// layouts, returned to it in `dealloc`/`realloc`) or a range of a chunk the
// arena owns and never hands out twice; ranges are aligned as asked.
unsafe impl GlobalAlloc for CallArena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::is_large(layout) {
            // SAFETY: `layout` comes from the caller, valid and non-zero.
            return unsafe { System.alloc(layout) };
        }
        if let Some(p) = self.bump(layout) {
            return p;
        }
        // SAFETY: a valid, non-zero layout.
        let chunk = unsafe { System.alloc(Layout::from_size_align_unchecked(CHUNK, 16)) };
        if chunk.is_null() {
            return ptr::null_mut();
        }
        self.next.set(chunk as usize);
        self.end.set(chunk as usize + CHUNK);
        // A small layout always fits an empty chunk.
        self.bump(layout).unwrap_or(ptr::null_mut())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::is_large(layout) {
            // SAFETY: large layouts were allocated by `System` with `layout`.
            unsafe { System.dealloc(ptr, layout) };
        } else if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a
        // valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (Self::is_large(layout), Self::is_large(new_layout)) {
            // SAFETY: allocated by `System` with `layout`.
            (true, true) => return unsafe { System.realloc(ptr, layout, new_size) },
            (false, false)
                if ptr as usize + layout.size() == self.next.get()
                    && ptr as usize + new_size <= self.end.get() =>
            {
                // The latest allocation grows or shrinks in place.
                self.next.set(ptr as usize + new_size);
                return ptr;
            }
            _ => {}
        }
        // SAFETY: `new_layout` is valid and non-zero (realloc's contract).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both ranges are live, distinct allocations at least
            // this long.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_reuses_the_latest_and_passes_large_ones_on() {
        let arena = CallArena::new();
        let small = Layout::from_size_align(24, 8).unwrap();
        unsafe {
            let a = arena.alloc(small);
            let b = arena.alloc(small);
            assert_eq!(a as usize % 8, 0);
            assert_eq!(b as usize, a as usize + 24);
            b.write_bytes(7, 24);
            // The latest grows in place; an earlier one moves.
            let b2 = arena.realloc(b, small, 100);
            assert_eq!(b2, b);
            assert_eq!(*b2.add(23), 7);
            let a2 = arena.realloc(a, small, 48);
            assert_ne!(a2, a);
            // Freeing the latest gives its room back.
            let c = arena.alloc(small);
            arena.dealloc(c, small);
            assert_eq!(arena.alloc(small), c);
            // Large allocations come from (and go back to) the system.
            let large = Layout::from_size_align(LARGE + 1, 8).unwrap();
            let l = arena.alloc(large);
            assert!(!l.is_null());
            let l2 = arena.realloc(l, large, 4 * LARGE);
            l2.add(4 * LARGE - 1).write(1);
            arena.dealloc(l2, Layout::from_size_align(4 * LARGE, 8).unwrap());
            // A small one that outgrows the small limit moves to the system.
            let m = arena.realloc(a2, Layout::from_size_align(48, 8).unwrap(), LARGE * 2);
            arena.dealloc(m, Layout::from_size_align(LARGE * 2, 8).unwrap());
            // Past a chunk, a new one is taken.
            for _ in 0..(CHUNK / 1024 + 1) {
                assert!(
                    !arena
                        .alloc(Layout::from_size_align(1024, 8).unwrap())
                        .is_null()
                );
            }
        }
    }
}
