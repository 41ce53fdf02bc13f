//! Frame authentication: the [`KeyRing`] that signs with the active authkeys
//! key and verifies with any defined one.
//!
//! The ring is built once from [`AuthKeys`]. For each HMAC key it keeps an
//! `Hmac<D>` already keyed (inner and outer pads absorbed), so a frame costs
//! a stack copy of that state and the hashing of ~22 bytes, never a key
//! schedule or an allocation. Tags are the first [`HMAC_TAG_LEN`] bytes of
//! the HMAC, compared in constant time; `crc` frames end in the big-endian
//! CRC-32 (IEEE), which detects corruption but authenticates nothing.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::Sha256;
use thiserror::Error;

use super::frame::DropReason;
use super::{CRC_TAG_LEN, HMAC_TAG_LEN};
use crate::config::authkeys::{AuthKeys, AuthMethod, MAX_KEY_INDEX};

const SLOTS: usize = MAX_KEY_INDEX as usize + 1;

/// A key prepared for per-frame use.
#[derive(Clone)]
enum PreparedKey {
    Crc,
    Md5(Hmac<Md5>),
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
}

impl PreparedKey {
    fn new(method: &AuthMethod) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(match method {
            AuthMethod::Crc => PreparedKey::Crc,
            AuthMethod::Md5 { key } => PreparedKey::Md5(Hmac::new_from_slice(key)?),
            AuthMethod::Sha1 { key } => PreparedKey::Sha1(Hmac::new_from_slice(key)?),
            AuthMethod::Sha256 { key } => PreparedKey::Sha256(Hmac::new_from_slice(key)?),
        })
    }

    fn tag_len(&self) -> usize {
        match self {
            PreparedKey::Crc => CRC_TAG_LEN,
            _ => HMAC_TAG_LEN,
        }
    }

    fn sign(&self, data: &[u8]) -> Tag {
        match self {
            PreparedKey::Crc => {
                let crc = crc32fast::hash(data).to_be_bytes();
                let mut bytes = [0u8; HMAC_TAG_LEN];
                bytes[..CRC_TAG_LEN].copy_from_slice(&crc);
                Tag {
                    bytes,
                    len: CRC_TAG_LEN as u8,
                }
            }
            PreparedKey::Md5(m) => hmac_tag(m, data),
            PreparedKey::Sha1(m) => hmac_tag(m, data),
            PreparedKey::Sha256(m) => hmac_tag(m, data),
        }
    }

    fn verify(&self, data: &[u8], tag: &[u8]) -> Result<(), DropReason> {
        // A shorter tag would be accepted by `verify_truncated_left` and be
        // trivially forgeable, so the length is pinned first.
        if tag.len() != self.tag_len() {
            return Err(match self {
                PreparedKey::Crc => DropReason::BadCrc,
                _ => DropReason::BadMac,
            });
        }
        let ok = match self {
            // No secret to protect: a plain comparison is fine for a CRC.
            PreparedKey::Crc => crc32fast::hash(data).to_be_bytes() == tag,
            PreparedKey::Md5(m) => hmac_verify(m, data, tag),
            PreparedKey::Sha1(m) => hmac_verify(m, data, tag),
            PreparedKey::Sha256(m) => hmac_verify(m, data, tag),
        };
        match (ok, self) {
            (true, _) => Ok(()),
            (false, PreparedKey::Crc) => Err(DropReason::BadCrc),
            (false, _) => Err(DropReason::BadMac),
        }
    }
}

fn hmac_tag<M: Mac + Clone>(prepared: &M, data: &[u8]) -> Tag {
    let mut mac = prepared.clone();
    mac.update(data);
    let full = mac.finalize().into_bytes();
    let mut bytes = [0u8; HMAC_TAG_LEN];
    if let Some(head) = full.get(..HMAC_TAG_LEN) {
        bytes.copy_from_slice(head);
    }
    Tag {
        bytes,
        len: HMAC_TAG_LEN as u8,
    }
}

fn hmac_verify<M: Mac + Clone>(prepared: &M, data: &[u8], tag: &[u8]) -> bool {
    let mut mac = prepared.clone();
    mac.update(data);
    mac.verify_truncated_left(tag).is_ok()
}

/// A frame's trailer: 8 HMAC bytes or 4 CRC bytes, on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    bytes: [u8; HMAC_TAG_LEN],
    len: u8,
}

impl Tag {
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len as usize).unwrap_or(&self.bytes)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A key that could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyRingError {
    #[error("authkeys key {index} ({method}) cannot key an HMAC")]
    InvalidKey { index: u8, method: &'static str },
}

/// Every defined authkeys key, prepared; signs with the active one.
#[derive(Clone)]
pub struct KeyRing {
    active_index: u8,
    active: PreparedKey,
    keys: [Option<PreparedKey>; SLOTS],
}

impl KeyRing {
    pub fn new(auth: &AuthKeys) -> Result<Self, KeyRingError> {
        let mut keys: [Option<PreparedKey>; SLOTS] = Default::default();
        for (index, method) in auth.defined() {
            let prepared = PreparedKey::new(method).map_err(|_| KeyRingError::InvalidKey {
                index,
                method: method.name(),
            })?;
            if let Some(slot) = keys.get_mut(index as usize) {
                *slot = Some(prepared);
            }
        }
        let active_index = auth.active_index();
        let active = keys
            .get(active_index as usize)
            .and_then(Option::clone)
            .ok_or(KeyRingError::InvalidKey {
                index: active_index,
                method: "missing",
            })?;
        Ok(Self {
            active_index,
            active,
            keys,
        })
    }

    /// The key index written into outgoing frames.
    pub fn active_index(&self) -> u8 {
        self.active_index
    }

    /// Tag length of outgoing frames.
    pub fn active_tag_len(&self) -> usize {
        self.active.tag_len()
    }

    /// Tag length for a received key index; `None` when this node does not
    /// define that key.
    pub fn tag_len(&self, key_index: u8) -> Option<usize> {
        self.key(key_index).map(PreparedKey::tag_len)
    }

    /// Signs `data` with the active key.
    pub fn sign(&self, data: &[u8]) -> Tag {
        self.active.sign(data)
    }

    /// Verifies `tag` over `data` with key `key_index` (any defined key, so
    /// that keys can be rotated), in constant time for HMACs.
    pub fn verify(&self, key_index: u8, data: &[u8], tag: &[u8]) -> Result<(), DropReason> {
        self.key(key_index)
            .ok_or(DropReason::UnknownKey)?
            .verify(data, tag)
    }

    fn key(&self, index: u8) -> Option<&PreparedKey> {
        self.keys.get(index as usize)?.as_ref()
    }
}

// Keyed HMAC state is as secret as the key: never print it.
impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let defined: Vec<u8> = (0..SLOTS as u8)
            .filter(|&i| self.key(i).is_some())
            .collect();
        f.debug_struct("KeyRing")
            .field("active_index", &self.active_index)
            .field("defined", &defined)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(active: u8, defined: Vec<(u8, AuthMethod)>) -> KeyRing {
        let keys = AuthKeys::new(active, defined).expect("valid test keys");
        KeyRing::new(&keys).expect("keys prepare")
    }

    #[test]
    fn sign_verifies_and_other_data_does_not() {
        for method in [
            AuthMethod::Crc,
            AuthMethod::Md5 { key: b"k".to_vec() },
            AuthMethod::Sha1 { key: b"k".to_vec() },
            AuthMethod::Sha256 { key: b"k".to_vec() },
        ] {
            let r = ring(3, vec![(3, method.clone())]);
            let tag = r.sign(b"hello");
            assert_eq!(tag.as_bytes().len(), super::super::tag_len(&method));
            assert_eq!(r.verify(3, b"hello", tag.as_bytes()), Ok(()));
            assert!(r.verify(3, b"hellp", tag.as_bytes()).is_err());
            assert_eq!(
                r.verify(4, b"hello", tag.as_bytes()),
                Err(DropReason::UnknownKey)
            );
        }
    }

    #[test]
    fn short_tag_is_rejected_even_if_it_is_a_true_prefix() {
        let r = ring(1, vec![(1, AuthMethod::Sha1 { key: b"k".to_vec() })]);
        let tag = r.sign(b"data");
        assert_eq!(
            r.verify(1, b"data", &tag.as_bytes()[..1]),
            Err(DropReason::BadMac)
        );
    }

    #[test]
    fn different_keys_give_different_tags() {
        let a = ring(1, vec![(1, AuthMethod::Md5 { key: b"a".to_vec() })]);
        let b = ring(1, vec![(1, AuthMethod::Md5 { key: b"b".to_vec() })]);
        assert_ne!(a.sign(b"x"), b.sign(b"x"));
        assert_eq!(
            b.verify(1, b"x", a.sign(b"x").as_bytes()),
            Err(DropReason::BadMac)
        );
    }

    #[test]
    fn debug_hides_keys() {
        let r = ring(
            1,
            vec![(
                1,
                AuthMethod::Sha1 {
                    key: b"secretkey".to_vec(),
                },
            )],
        );
        let shown = format!("{r:?}");
        assert!(!shown.contains("secretkey"), "{shown}");
        assert!(shown.contains("active_index: 1"), "{shown}");
    }
}
