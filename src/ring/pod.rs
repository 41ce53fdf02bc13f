//! The marker for records that may live in shared memory: plain old data.
//!
//! A record is copied byte for byte into a region that another process maps,
//! and that process may be buggy or hostile. So the reader must be able to
//! take *any* bytes as a valid value, and the value must not point anywhere.

/// A type whose values are plain bytes.
///
/// # Safety
///
/// Implement only for types that
/// - are `Copy` and have no `Drop`;
/// - accept every bit pattern as a valid value (no `bool`, `char`, enums,
///   references, `NonZero*`, pointers into this process);
/// - have an alignment of at most 8 (slots are 8-byte aligned);
/// - have a stable layout (`#[repr(C)]` or `#[repr(transparent)]`), so that
///   two processes built from the same source agree on it.
pub unsafe trait Pod: Copy + Send + 'static {}

macro_rules! pod_primitives {
    ($($t:ty),*) => { $(
        // SAFETY: integers accept every bit pattern and align to at most 8.
        unsafe impl Pod for $t {}
    )* };
}

pod_primitives!(u8, u16, u32, u64, i8, i16, i32, i64);

// SAFETY: an array of Pod is Pod: same alignment, no padding between elements.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}
