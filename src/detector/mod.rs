//! The failure detector (sans-IO).
