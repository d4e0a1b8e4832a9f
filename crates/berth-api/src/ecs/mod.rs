//! ECS wire types: the request and response shapes of the ECS JSON 1.1 API as the AWS CLI
//! and boto3 send and expect them.
//!
//! The types are generated from botocore's service model by `scripts/gen-wire.py` (see
//! `generated.rs`); this module adds the hand-written pieces they rely on: [`Timestamp`]
//! and [`UnknownEnumValue`] (the `wire_enum!` macro behind every enum is in `wire_enum.rs`).
//!
//! Shapes reachable from a request reject unknown members and report missing required
//! ones by their wire name; enums reject values the model does not define.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod generated;
pub use generated::*;

#[cfg(test)]
mod tests;

impl Operation {
    /// The operation an `X-Amz-Target` header names
    /// (`AmazonEC2ContainerServiceV20141113.RunTask`), or `None` when the prefix is not
    /// ECS's or the operation is not one Berth implements.
    pub fn from_target(target: &str) -> Option<Self> {
        let name = target.strip_prefix(TARGET_PREFIX)?.strip_prefix('.')?;
        name.parse().ok()
    }
}

/// A string that is not one of the values an ECS enum defines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {type_name}; valid values are: {expected}")]
pub struct UnknownEnumValue {
    /// The enum's name in the ECS model, e.g. `LaunchType`.
    pub type_name: &'static str,
    /// The value that was given.
    pub value: String,
    /// The valid values, comma-separated.
    pub expected: String,
}

impl UnknownEnumValue {
    pub(crate) fn new<'a>(
        type_name: &'static str,
        value: &str,
        expected: impl Iterator<Item = &'a str>,
    ) -> Self {
        Self {
            type_name,
            value: value.to_owned(),
            expected: expected.collect::<Vec<_>>().join(", "),
        }
    }
}

/// A point in time as ECS's JSON 1.1 protocol carries it: seconds since the Unix epoch,
/// with a fraction. Serializes as a JSON number (an integer when it is whole seconds);
/// deserializes from an integer or a float.
///
/// Always finite, so it never serializes as `null`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Timestamp(f64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Self = Self(0.0);

    /// From seconds since the epoch; `None` if `secs` is NaN or infinite.
    pub fn try_from_secs_f64(secs: f64) -> Option<Self> {
        secs.is_finite().then_some(Self(secs))
    }

    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Self(secs as f64)
    }

    /// From milliseconds since the epoch (the precision AWS reports).
    pub fn from_millis(millis: i64) -> Self {
        Self(millis as f64 / 1000.0)
    }

    /// Seconds since the epoch, with a fraction.
    pub const fn as_secs_f64(self) -> f64 {
        self.0
    }

    /// Milliseconds since the epoch, rounded to the nearest.
    pub fn as_millis(self) -> i64 {
        (self.0 * 1000.0).round() as i64
    }

    /// The same instant as a [`SystemTime`], or `None` if the platform cannot represent it.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let magnitude = Duration::try_from_secs_f64(self.0.abs()).ok()?;
        if self.0 >= 0.0 {
            SystemTime::UNIX_EPOCH.checked_add(magnitude)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(magnitude)
        }
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        match time.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => Self(after.as_secs_f64()),
            Err(before) => Self(-before.duration().as_secs_f64()),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Timestamp {
    /// Whole seconds as an integer (as the AWS CLI sends them), anything else as a float.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// Beyond 2^53 not every integer is an f64, so keep the float.
        const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;
        if self.0.fract() == 0.0 && self.0.abs() < EXACT_INTEGERS {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EpochSeconds;

        impl Visitor<'_> for EpochSeconds {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp as a number of seconds since the Unix epoch")
            }

            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_secs(secs))
            }

            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Timestamp, E> {
                Ok(Timestamp(secs as f64))
            }

            fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Timestamp, E> {
                Timestamp::try_from_secs_f64(secs)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Float(secs), &self))
            }
        }

        deserializer.deserialize_any(EpochSeconds)
    }
}
