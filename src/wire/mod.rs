//! The wire: keepalive frames, their authentication and serial framing.
