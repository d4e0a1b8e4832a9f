//! IPv4 networks (`A.B.C.D/N`), as hosts' task subnets and the cluster's task range are
//! written on the agent channel and in the server's settings.

use std::fmt;
use std::net::Ipv4Addr;

/// The default cluster task range (each host gets a /24 of it).
pub const DEFAULT_TASK_CIDR: &str = "10.42.0.0/16";

/// An IPv4 network, `A.B.C.D/N`, with its host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    /// Parses `A.B.C.D/N`; the address must be the network's first.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("'{s}' is not an IPv4 network such as 10.42.0.0/16");
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let base = u32::from(addr);
        if base & !mask(prefix) != 0 {
            return Err(format!(
                "'{s}' has host bits set; the network is {}/{prefix}",
                Ipv4Addr::from(base & mask(prefix))
            ));
        }
        Ok(Cidr { base, prefix })
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let shorter = self.prefix.min(other.prefix);
        self.base & mask(shorter) == other.base & mask(shorter)
    }

    /// How many /`len` subnets it holds (none when `len` is shorter than its own).
    pub fn subnet_count(&self, len: u8) -> u32 {
        if len < self.prefix || len > 32 {
            0
        } else {
            1u32.checked_shl(u32::from(len - self.prefix))
                .unwrap_or(u32::MAX)
        }
    }

    /// Its `i`th /`len` subnet.
    pub fn subnet(&self, len: u8, i: u32) -> Option<Cidr> {
        (i < self.subnet_count(len)).then(|| Cidr {
            base: self.base + (i << (32 - u32::from(len))),
            prefix: len,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn networks_parse_print_and_refuse_what_is_not_one() {
        assert_eq!(c("10.42.0.0/16").to_string(), "10.42.0.0/16");
        assert_eq!(c("0.0.0.0/0").prefix(), 0);
        for bad in [
            "10.42.0.0",
            "10.42.0.0/33",
            "10.42.1.0/16",
            "x/8",
            "10.42.0.0/-1",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert!(Cidr::parse("10.42.1.0/16")
            .unwrap_err()
            .contains("10.42.0.0/16"));
    }

    #[test]
    fn overlap_is_sharing_any_address() {
        assert!(c("10.42.0.0/16").overlaps(&c("10.42.7.0/24")));
        assert!(c("10.42.7.0/24").overlaps(&c("10.42.0.0/16")));
        assert!(!c("10.42.7.0/24").overlaps(&c("10.42.8.0/24")));
        assert!(c("0.0.0.0/0").overlaps(&c("192.168.1.0/24")));
    }
}
