//! Hybrid logical clock: orders events across hub devices whose wall clocks drift, without a
//! coordinator. A stamp is (wall milliseconds, counter, device); it never goes backwards on a
//! device, and it moves past every stamp the device has seen from others.
//!
//! The clock is pure: the caller passes the physical time in, so tests replay exactly.
//!
//! Two bounds keep one bad clock from breaking everyone's: the counter never grows past six
//! digits (it carries into the millisecond part, so the encoded stamp keeps one width that
//! every peer parses), and a stamp more than [`MAX_AHEAD_MS`] ahead of the receiver's wall
//! clock is refused by [`HlcClock::observe`] without moving the clock (a bench PC whose
//! clock runs fast would otherwise pin every device's clock to its future).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest counter a stamp carries; one more carries into `wall_ms`.
pub const MAX_COUNTER: u32 = 999_999;

/// How far ahead of the receiver's wall clock a peer's stamp may be: more is a clock that is
/// wrong, not drift between two machines.
pub const MAX_AHEAD_MS: u64 = 5 * 60_000;

/// A peer's stamp refused because it is too far ahead of this device's wall clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "stamped {} s ahead of this clock (at most {} s is accepted): the sending machine's clock is wrong",
    .ahead_ms / 1000,
    MAX_AHEAD_MS / 1000
)]
pub struct TooFarAhead {
    pub ahead_ms: u64,
}

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
        // Digits only: `u64::from_str` takes a leading '+', and "+00014" would read as a
        // stamp that encodes to other text, so it would sort apart from its own copy (found
        // by the sync_wire fuzz target).
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if wall.len() != 15
            || counter.len() != 6
            || device.is_empty()
            || !digits(wall)
            || !digits(counter)
        {
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
        self.carry();
        self.stamp()
    }

    /// Moves the clock past a stamp received from another device — unless the stamp is more
    /// than [`MAX_AHEAD_MS`] ahead of `now_ms`, which is refused and leaves the clock as it was.
    pub fn observe(&mut self, remote: &HlcStamp, now_ms: u64) -> Result<HlcStamp, TooFarAhead> {
        let ahead_ms = remote.wall_ms.saturating_sub(now_ms);
        if ahead_ms > MAX_AHEAD_MS {
            return Err(TooFarAhead { ahead_ms });
        }
        Ok(self.catch_up(remote, now_ms))
    }

    /// Moves the clock past a stamp this device accepted earlier (its own store's history,
    /// checked by [`HlcClock::observe`] when it arrived): no bound, it is already trusted.
    pub fn catch_up(&mut self, seen: &HlcStamp, now_ms: u64) -> HlcStamp {
        let wall = now_ms.max(self.last_wall).max(seen.wall_ms);
        self.last_counter = if wall == self.last_wall && wall == seen.wall_ms {
            self.last_counter.max(seen.counter) + 1
        } else if wall == self.last_wall {
            self.last_counter + 1
        } else if wall == seen.wall_ms {
            seen.counter + 1
        } else {
            0
        };
        self.last_wall = wall;
        self.carry();
        self.stamp()
    }

    /// A counter past six digits carries into the milliseconds: the stamp keeps its width and
    /// its order (a later stamp still sorts after), at the cost of running a millisecond ahead.
    fn carry(&mut self) {
        if self.last_counter > MAX_COUNTER {
            self.last_wall += u64::from(self.last_counter / (MAX_COUNTER + 1));
            self.last_counter %= MAX_COUNTER + 1;
        }
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
    fn only_the_one_encoding_of_a_stamp_reads() {
        let good = "001780000000014-000014-dev-1";
        assert_eq!(good.parse::<HlcStamp>().unwrap().encode(), good);
        for bad in [
            "001780000000014-+00014-dev-1",
            "+01780000000014-000014-dev-1",
            "00178000000001 -000014-dev-1",
            "001780000000014-00001a-dev-1",
            "001780000000014-000014-",
        ] {
            assert!(bad.parse::<HlcStamp>().is_err(), "{bad} read as a stamp");
        }
    }

    #[test]
    fn the_counter_carries_into_the_milliseconds_and_the_width_never_grows() {
        let mut c = HlcClock::resume(
            "hub-a",
            Some(&HlcStamp {
                wall_ms: 5_000,
                counter: MAX_COUNTER - 1,
                device: "hub-a".into(),
            }),
        );
        let a = c.tick(5_000);
        assert_eq!((a.wall_ms, a.counter), (5_000, MAX_COUNTER));
        let b = c.tick(5_000);
        assert_eq!((b.wall_ms, b.counter), (5_001, 0), "carried");
        assert!(a < b);
        assert_eq!(a.encode().len(), b.encode().len());
        assert_eq!(b.encode().parse::<HlcStamp>().unwrap(), b);
        // Observing a peer at the limit carries too.
        let peer = HlcStamp {
            wall_ms: 9_000,
            counter: MAX_COUNTER,
            device: "hub-b".into(),
        };
        let seen = c.observe(&peer, 9_000).unwrap();
        assert_eq!((seen.wall_ms, seen.counter), (9_001, 0));
        assert!(seen > peer);
        // A stamp with a seventh counter digit is not a stamp.
        assert!("000000000009000-1000000-hub-b".parse::<HlcStamp>().is_err());
    }

    #[test]
    fn a_stamp_too_far_ahead_is_refused_and_moves_nothing() {
        let now = 1_800_000_000_000;
        let mut c = HlcClock::new("central");
        let before = c.tick(now);
        let at_limit = HlcStamp {
            wall_ms: now + MAX_AHEAD_MS,
            counter: 0,
            device: "bench".into(),
        };
        let past_limit = HlcStamp {
            wall_ms: now + MAX_AHEAD_MS + 1,
            ..at_limit.clone()
        };
        let mut probe = c.clone();
        assert!(
            probe.observe(&at_limit, now).is_ok(),
            "the limit itself is accepted"
        );
        let refused = c.observe(&past_limit, now).unwrap_err();
        assert_eq!(refused.ahead_ms, MAX_AHEAD_MS + 1);
        assert!(refused.to_string().contains("clock is wrong"), "{refused}");
        let after = c.tick(now);
        assert_eq!(after.wall_ms, before.wall_ms, "the clock did not move");
        assert!(after > before);
        // Far-future stamps (a year ahead) likewise.
        let year = HlcStamp {
            wall_ms: now + 365 * 86_400_000,
            ..at_limit
        };
        assert!(c.observe(&year, now).is_err());
    }

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
        let seen = c.observe(&remote, 1_100).unwrap();
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
