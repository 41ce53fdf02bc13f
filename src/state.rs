//! Node state kept on disk.
