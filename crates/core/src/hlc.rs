//! Hybrid logical clock: orders events across hub devices whose wall clocks drift, without a
//! coordinator. A stamp is (wall milliseconds, counter, device); it never goes backwards on a
//! device, and it moves past every stamp the device has seen from others.
//!
//! The clock is pure: the caller passes the physical time in, so tests replay exactly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HlcStamp {
    pub wall_ms: u64,
    pub counter: u32,
    pub device: String,
}

impl HlcStamp {
    /// Fixed-width text that sorts the same as the stamp, so SQLite can order by it.
    pub fn encode(&self) -> String {
        format!("{:015}-{:06}-{}", self.wall_ms, self.counter, self.device)
    }
}

impl fmt::Display for HlcStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl fmt::Debug for HlcStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({})", self.encode())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a hybrid logical clock stamp")]
pub struct BadStamp(pub String);

impl FromStr for HlcStamp {
    type Err = BadStamp;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadStamp(s.to_string());
        let mut parts = s.splitn(3, '-');
        let wall = parts.next().ok_or_else(bad)?;
        let counter = parts.next().ok_or_else(bad)?;
        let device = parts.next().ok_or_else(bad)?;
        if wall.len() != 15 || counter.len() != 6 || device.is_empty() {
            return Err(bad());
        }
        Ok(HlcStamp {
            wall_ms: wall.parse().map_err(|_| bad())?,
            counter: counter.parse().map_err(|_| bad())?,
            device: device.to_string(),
        })
    }
}

impl Serialize for HlcStamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for HlcStamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One device's clock. Persist `last()` with each event so a restart resumes past it.
#[derive(Debug, Clone)]
pub struct HlcClock {
    device: String,
    last_wall: u64,
    last_counter: u32,
}

impl HlcClock {
    pub fn new(device: impl Into<String>) -> Self {
        HlcClock {
            device: device.into(),
            last_wall: 0,
            last_counter: 0,
        }
    }

    /// Resumes after a restart from the last stamp this device wrote.
    pub fn resume(device: impl Into<String>, last: Option<&HlcStamp>) -> Self {
        let mut clock = HlcClock::new(device);
        if let Some(last) = last {
            clock.last_wall = last.wall_ms;
            clock.last_counter = last.counter;
        }
        clock
    }

    /// A stamp for a local event at physical time `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> HlcStamp {
        if now_ms > self.last_wall {
            self.last_wall = now_ms;
            self.last_counter = 0;
        } else {
            self.last_counter += 1;
        }
        self.stamp()
    }

    /// Moves the clock past a stamp received from another device.
    pub fn observe(&mut self, remote: &HlcStamp, now_ms: u64) -> HlcStamp {
        let wall = now_ms.max(self.last_wall).max(remote.wall_ms);
        self.last_counter = if wall == self.last_wall && wall == remote.wall_ms {
            self.last_counter.max(remote.counter) + 1
        } else if wall == self.last_wall {
            self.last_counter + 1
        } else if wall == remote.wall_ms {
            remote.counter + 1
        } else {
            0
        };
        self.last_wall = wall;
        self.stamp()
    }

    fn stamp(&self) -> HlcStamp {
        HlcStamp {
            wall_ms: self.last_wall,
            counter: self.last_counter,
            device: self.device.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn never_goes_backwards_when_the_wall_clock_does() {
        let mut c = HlcClock::new("hub-a");
        let a = c.tick(1_000);
        let b = c.tick(900);
        let d = c.tick(1_000);
        assert!(a < b && b < d);
        assert_eq!(b.wall_ms, 1_000);
    }

    #[test]
    fn moves_past_what_it_observes() {
        let mut c = HlcClock::new("hub-a");
        c.tick(1_000);
        let remote = HlcStamp {
            wall_ms: 5_000,
            counter: 7,
            device: "hub-b".into(),
        };
        let seen = c.observe(&remote, 1_100);
        assert!(seen > remote);
        assert!(c.tick(1_200) > seen);
    }

    #[test]
    fn resumes_past_its_last_stamp() {
        let mut c = HlcClock::new("hub-a");
        let last = c.tick(10_000);
        let mut again = HlcClock::resume("hub-a", Some(&last));
        assert!(again.tick(9_000) > last);
    }

    #[test]
    fn text_form_round_trips_and_rejects_garbage() {
        let s = HlcStamp {
            wall_ms: 1_700_000_000_123,
            counter: 42,
            device: "dev-1".into(),
        };
        assert_eq!(s.encode().parse::<HlcStamp>().unwrap(), s);
        assert!("12-3-x".parse::<HlcStamp>().is_err());
        assert!("".parse::<HlcStamp>().is_err());
    }

    proptest! {
        #[test]
        fn encoding_sorts_like_the_stamp(a in 0u64..10_000_000_000_000, ac in 0u32..999_999,
                                         b in 0u64..10_000_000_000_000, bc in 0u32..999_999) {
            let x = HlcStamp { wall_ms: a, counter: ac, device: "d".into() };
            let y = HlcStamp { wall_ms: b, counter: bc, device: "d".into() };
            prop_assert_eq!(x.cmp(&y), x.encode().cmp(&y.encode()));
        }

        #[test]
        fn ticks_strictly_increase(times in prop::collection::vec(0u64..1_000_000, 1..200)) {
            let mut c = HlcClock::new("d");
            let mut prev = None;
            for t in times {
                let s = c.tick(t);
                if let Some(p) = prev { prop_assert!(s > p); }
                prev = Some(s);
            }
        }
    }
}
