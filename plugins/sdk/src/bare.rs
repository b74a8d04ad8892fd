//! The runtime pieces a `no_std` plugin gets from [`crate::no_std_runtime!`]:
//! what happens on a panic, and the canonical ABI's `cabi_realloc`; and
//! [`Malloc`], the C library's allocator, which [`crate::CallArena`] takes
//! its memory from on wasm32.
#![cfg(target_arch = "wasm32")]

use alloc::alloc::{GlobalAlloc, Layout, alloc};
use core::fmt::Write as _;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::Level;

// `memcmp`, `memcpy` and the like: on wasm32-wasip2 the compiler expects the
// C library to provide them, and without std nothing else links it. Only
// those functions are pulled in; they import nothing. (A plugin with std
// links it anyway.)
// The C library's allocator, too: it starts at the heap base inside the
// memory the plugin begins with, where an allocator of its own that only
// grew memory would cost each call a `memory.grow`.
#[link(name = "c")]
unsafe extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn aligned_alloc(align: usize, size: usize) -> *mut u8;
    fn realloc(ptr: *mut u8, size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
}

/// The C library's `malloc` as a Rust allocator, as std's `System` is on
/// wasm32-wasip2.
#[derive(Debug)]
pub struct Malloc;

/// What `malloc` aligns every block to on wasm32.
const MALLOC_ALIGN: usize = 16;

// SAFETY: forwards to the C allocator, asking for `layout`'s alignment when
// `malloc`'s own is not enough; blocks are freed and resized by the same
// allocator.
unsafe impl GlobalAlloc for Malloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls; `aligned_alloc` gets a power-of-two
        // alignment (a `Layout`'s).
        unsafe {
            if layout.align() <= MALLOC_ALIGN {
                malloc(layout.size())
            } else {
                aligned_alloc(layout.align(), layout.size())
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` or `realloc` above (caller).
        unsafe { free(ptr) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: `ptr` came from this allocator (caller).
            return unsafe { realloc(ptr, new_size) };
        }
        // SAFETY: the caller guarantees a valid layout of `new_size`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as in `alloc`; both blocks are live and at least as long as
        // what is copied.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                free(ptr);
            }
            new
        }
    }
}

/// Set by the first panic: a panic while reporting one (say, out of memory
/// while formatting the message) traps at once instead of recursing.
static PANICKING: AtomicBool = AtomicBool::new(false);

/// Write the panic's message and location to the host's log, then trap. The
/// host reports the trap as the call's error; the log line says why.
pub fn panicked(info: &PanicInfo<'_>) -> ! {
    if !PANICKING.swap(true, Ordering::Relaxed) {
        let mut message = alloc::string::String::new();
        if write!(message, "plugin panicked: {info}").is_ok() {
            crate::log::log(Level::Error, &message);
        }
    }
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocator, as wit-bindgen defines it where std does
/// not provide one: a fresh block for `old_len == 0`, else a reallocation.
///
/// # Safety
///
/// `old` must be a block of `old_len` bytes with alignment `align` from this
/// allocator (or anything when `old_len` is 0), and `align` a power of two.
pub unsafe fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    let ptr = if old_len == 0 {
        if new_len == 0 {
            return align as *mut u8;
        }
        // SAFETY: a non-zero size with a power-of-two alignment (caller).
        unsafe { alloc(Layout::from_size_align_unchecked(new_len, align)) }
    } else {
        // SAFETY: `old` was allocated with this layout (caller).
        unsafe {
            alloc::alloc::realloc(
                old,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable();
    }
    ptr
}
