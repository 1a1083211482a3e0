//! RCS addresses for failover (docs/protocol.md 4.4 and 9.1): the list of RCS instances an AGV
//! may connect to, pushed with the configuration, and the active instance named by a standby's
//! `Close` (`NotActive`).
//!
//! An address is text, `host:port`, where `host` is a DNS name, an IPv4 address in
//! dotted-decimal or an IPv6 address in brackets (`[fd00::2]:7700`), and `port` is decimal
//! 1–65535 (always present). Text carries all three kinds of host in one encoding, is what
//! operators write in configuration, and is what a firmware's resolver (`getaddrinfo`) takes.
//!
//! ```
//! use protocol::address::RcsAddress;
//!
//! let a: RcsAddress = "[fd00::2]:7700".parse()?;
//! assert_eq!((a.host(), a.port()), ("fd00::2", 7700));
//! assert!(RcsAddress::parse("rcs-b.example:0").is_err());
//! # Ok::<(), protocol::address::AddressError>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use bytes::BytesMut;

use crate::codec::{Reader, Wire};
use crate::error::{DecodeError, EncodeError};
use crate::types::Extension;

/// Most addresses an `RcsAddresses` extension carries.
pub const MAX_RCS_ADDRESSES: usize = 16;

/// Longest address, bytes (a `string` field).
pub const MAX_ADDRESS_LEN: usize = 255;

/// Why a text is not an RCS address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid RCS address: {reason}")]
pub struct AddressError {
    /// The rule that was broken.
    pub reason: &'static str,
}

const fn err(reason: &'static str) -> AddressError {
    AddressError { reason }
}

/// An RCS instance's address, `host:port`, checked to be well-formed (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RcsAddress {
    text: String,
    /// Where the port starts (after the `:`).
    port_at: usize,
    port: u16,
}

impl RcsAddress {
    /// Checks `text` and keeps it as it is written.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        if text.len() > MAX_ADDRESS_LEN {
            return Err(err("longer than 255 bytes"));
        }
        let colon = text.rfind(':').ok_or(err("no port"))?;
        let (host, port_text) = (&text[..colon], &text[colon + 1..]);
        let port = parse_port(port_text)?;
        check_host(host)?;
        Ok(Self {
            text: String::from(text),
            port_at: colon + 1,
            port,
        })
    }

    /// The address as written (`host:port`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host: a DNS name, an IPv4 address, or an IPv6 address without its brackets (as a
    /// resolver takes it).
    pub fn host(&self) -> &str {
        let host = &self.text[..self.port_at - 1];
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn parse_port(text: &str) -> Result<u16, AddressError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("the port must be 1 to 5 decimal digits"));
    }
    if text.starts_with('0') {
        return Err(err("the port must be 1-65535 without leading zeros"));
    }
    text.parse::<u16>()
        .map_err(|_| err("the port must be 1-65535"))
}

fn check_host(host: &str) -> Result<(), AddressError> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or(err("an IPv6 address needs a closing bracket"))?;
        return Ipv6Addr::from_str(inner)
            .map(|_| ())
            .map_err(|_| err("not an IPv6 address in brackets"));
    }
    if host.is_empty() {
        return Err(err("no host"));
    }
    if host.len() > 253 {
        return Err(err("a host name is at most 253 bytes"));
    }
    let last = host.rsplit('.').next().unwrap_or(host);
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        // numeric: an IPv4 address, nothing else
        return Ipv4Addr::from_str(host)
            .map(|_| ())
            .map_err(|_| err("not an IPv4 address (or a host name with a numeric last label)"));
    }
    for label in host.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(err(
                "host name labels are 1-63 letters, digits or inner hyphens (IPv6 goes in brackets)",
            ));
        }
    }
    Ok(())
}

impl fmt::Display for RcsAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for RcsAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, AddressError> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for RcsAddress {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, AddressError> {
        Self::parse(s)
    }
}

impl AsRef<str> for RcsAddress {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Wire for RcsAddress {
    fn encode(&self, w: &mut BytesMut) -> Result<(), EncodeError> {
        self.text.encode(w)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let text = String::decode(r)?;
        Self::parse(&text).map_err(|e| DecodeError::InvalidValue {
            reason: e.reason,
            offset,
        })
    }
}

/// The value of an `RcsAddresses` extension: `list<string>` of addresses.
pub(crate) fn decode_list(value: &[u8]) -> Result<Vec<RcsAddress>, DecodeError> {
    let mut r = Reader::new(value);
    let list = Vec::<RcsAddress>::decode(&mut r)?;
    r.finish()?;
    if list.len() > MAX_RCS_ADDRESSES {
        return Err(DecodeError::InvalidValue {
            reason: "more than 16 RCS addresses",
            offset: 0,
        });
    }
    Ok(list)
}

/// An `RcsAddresses` extension carrying `addresses`.
pub(crate) fn encode_list(addresses: &[RcsAddress]) -> Result<Extension, EncodeError> {
    if addresses.len() > MAX_RCS_ADDRESSES {
        return Err(EncodeError::InvalidValue {
            reason: "more than 16 RCS addresses",
        });
    }
    let mut w = BytesMut::new();
    addresses.to_vec().encode(&mut w)?;
    Ok(Extension {
        key: Extension::RCS_ADDRESSES,
        value: w.to_vec(),
    })
}

/// The rule of the `RcsAddresses` extension in `extensions`: at most once, well-formed.
pub(crate) fn check_extensions(extensions: &[Extension]) -> Result<(), &'static str> {
    let mut found = false;
    for e in extensions
        .iter()
        .filter(|e| e.key == Extension::RCS_ADDRESSES)
    {
        if found {
            return Err("the RcsAddresses extension appears twice");
        }
        found = true;
        decode_list(&e.value).map_err(|e| match e {
            DecodeError::InvalidValue { reason, .. } => reason,
            _ => "the RcsAddresses extension is not a list of strings",
        })?;
    }
    Ok(())
}

#[cfg(feature = "arbitrary")]
impl crate::arb::Gen for RcsAddress {
    fn generate(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use alloc::format;
        let port: u16 = u.int_in_range(1..=u16::MAX)?;
        let text = match u.int_in_range(0..=2)? {
            0 => format!("{}:{port}", Ipv4Addr::from(u.arbitrary::<[u8; 4]>()?)),
            1 => format!("[{}]:{port}", Ipv6Addr::from(u.arbitrary::<[u16; 8]>()?)),
            _ => {
                const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
                let labels = u.int_in_range(1..=4)?;
                let mut host = String::new();
                for i in 0..labels {
                    if i > 0 {
                        host.push('.');
                    }
                    let len = u.int_in_range(1..=12)?;
                    for j in 0..len {
                        let mut c = *u.choose(CHARS)?;
                        if (c == b'-' && (j == 0 || j == len - 1))
                            || (i == labels - 1 && j == 0 && c.is_ascii_digit())
                        {
                            c = b'r';
                        }
                        host.push(char::from(c));
                    }
                }
                format!("{host}:{port}")
            }
        };
        Ok(Self::parse(&text).expect("generated addresses are well-formed"))
    }
}
#[cfg(feature = "arbitrary")]
crate::arb::arbitrary_via_gen!(RcsAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_kinds_of_host() {
        for (text, host, port) in [
            ("10.0.1.12:7700", "10.0.1.12", 7700),
            ("[fd00::12]:7700", "fd00::12", 7700),
            ("[::1]:1", "::1", 1),
            ("rcs-b.site.example:65535", "rcs-b.site.example", 65535),
            ("localhost:7700", "localhost", 7700),
            ("3com.example:80", "3com.example", 80),
        ] {
            let a = RcsAddress::parse(text).unwrap();
            assert_eq!((a.host(), a.port(), a.as_str()), (host, port, text));
        }
    }

    #[test]
    fn refuses_malformed_addresses() {
        for text in [
            "",
            "10.0.0.1",
            "10.0.0.1:",
            "10.0.0.1:0",
            "10.0.0.1:07700",
            "10.0.0.1:65536",
            "10.0.0.1:+77",
            "10.0.0.256:7700",
            "1.2.3:7700",
            "fd00::1:7700",
            "[fd00::1:7700",
            "[fd00::zz]:7700",
            "[fd00::1%eth0]:7700",
            ":7700",
            "-rcs:7700",
            "rcs-:7700",
            "rcs..b:7700",
            "rcs.:7700",
            "rcs b:7700",
            "rcs_b:7700",
            "rcs.b.123:7700",
        ] {
            assert!(RcsAddress::parse(text).is_err(), "{text:?} was accepted");
        }
        let long = alloc::format!("{}:7700", "a".repeat(63));
        assert!(RcsAddress::parse(&long).is_ok());
        let label = "a".repeat(63);
        let too_long = alloc::format!("{label}.{label}.{label}.{label}.x:1");
        assert!(RcsAddress::parse(&too_long).is_err());
    }

    #[test]
    fn list_extension_round_trips_and_is_checked() {
        let list = alloc::vec![
            RcsAddress::parse("10.0.1.11:7700").unwrap(),
            RcsAddress::parse("[fd00::11]:7700").unwrap(),
        ];
        let ext = encode_list(&list).unwrap();
        assert_eq!(ext.key, 0x0001);
        assert_eq!(&ext.value[..3], &[2, 0, 14]);
        assert_eq!(decode_list(&ext.value).unwrap(), list);
        assert!(check_extensions(core::slice::from_ref(&ext)).is_ok());
        assert!(check_extensions(&[ext.clone(), ext.clone()]).is_err());
        let mut bad = ext.clone();
        bad.value.push(0);
        assert!(check_extensions(&[bad]).is_err());
        let mut bad = ext;
        bad.value[3] = b'x';
        assert!(check_extensions(&[bad]).is_err());
        let many = alloc::vec![list[0].clone(); MAX_RCS_ADDRESSES + 1];
        assert!(encode_list(&many).is_err());
    }
}
