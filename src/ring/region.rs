//! The shared-memory region: creating its backing file (a sealed memfd or a
//! file in a run dir), sizing it, and mapping it `MAP_SHARED`.
//!
//! A region is only ever mapped after its file size has been checked, so a
//! truncated file is an error and not a SIGBUS. A memfd is additionally
//! sealed against shrinking, so nobody can truncate it under a mapping later.
//! A file in a run dir cannot be sealed: anyone able to truncate it (root or
//! the owner; it is created 0600) can still make a reader fault.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use super::layout::Header;

/// A `MAP_SHARED` read-write mapping, unmapped on drop.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; all shared access goes through atomics
// or through the SPSC protocol, which the owning Writer/Reader enforce.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` only hands out `&Header` (atomics) and raw pointers.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `fd`. The caller has checked that the
    /// file is at least `len` bytes long.
    pub fn shared(fd: BorrowedFd<'_>, len: usize) -> io::Result<Self> {
        if len < std::mem::size_of::<Header>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "region shorter than the ring header",
            ));
        }
        // SAFETY: a fresh mapping chosen by the kernel; no existing memory is
        // affected. The result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave 0"))?;
        Ok(Self { ptr, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is page aligned (so 128-aligned) and at least
        // size_of::<Header>() long (checked in `shared`); Header is only
        // atomics, for which every bit pattern is valid and shared mutation
        // is allowed.
        unsafe { &*self.ptr.as_ptr().cast::<Header>() }
    }

    /// Pointer to byte `offset` of the region. Callers keep `offset` inside
    /// the validated layout, which is no longer than the mapping.
    pub fn at(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset < self.len);
        // SAFETY: in bounds of the mapping per the caller's contract.
        unsafe { self.ptr.as_ptr().add(offset) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the range mapped in `shared`; no reference
        // into it outlives `self` (they all borrow from it).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A zeroed memfd of `len` bytes, sealed so its size can never change.
pub fn sealed_memfd(name: &CStr, len: usize) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid C string; the result is checked.
    let fd = check(unsafe {
        libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
    })?;
    // SAFETY: memfd_create just returned this fd and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let file = File::from(fd);
    file.set_len(len as u64)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on an fd we own.
    check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    Ok(file.into())
}

/// Opens an existing ring file read-write (close-on-exec).
pub fn open_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// Creates a zeroed file of `len` bytes next to `path`, under a temporary
/// name; the caller initialises it and then [`publish`]es it, so a consumer
/// opening `path` never sees a half-written header.
pub fn create_temp_beside(path: &Path, len: usize) -> io::Result<(File, PathBuf)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "ring path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    // A leftover from a crashed producer with our pid is ours to replace.
    let _ = std::fs::remove_file(&tmp);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.set_len(len as u64)?;
    Ok((file, tmp))
}

/// Atomically puts an initialised temporary file at `path`.
pub fn publish(tmp: &Path, path: &Path) -> io::Result<()> {
    std::fs::rename(tmp, path)
}

/// Size of the file behind `fd`.
pub fn file_len(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let file = File::from(fd.try_clone_to_owned()?);
    Ok(file.metadata()?.len())
}

/// Clears `FD_CLOEXEC` on `fd` so a child keeps it across `exec`.
///
/// Only calls `fcntl`, which is async-signal-safe: meant for
/// `std::os::unix::process::CommandExt::pre_exec`, so that the flag is
/// cleared in the child alone and no other child of the parent inherits it.
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_SETFD only changes fd flags; an invalid fd gives EBADF.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}
