//! Processor names (`lite` … `ultra8x`, each with a `-fast` variant).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The processor tiers Parallel lists, cheapest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Lite,
    Base,
    Core,
    Core2x,
    Pro,
    Ultra,
    Ultra2x,
    Ultra4x,
    Ultra8x,
}

impl Tier {
    pub const ALL: [Tier; 9] = [
        Tier::Lite,
        Tier::Base,
        Tier::Core,
        Tier::Core2x,
        Tier::Pro,
        Tier::Ultra,
        Tier::Ultra2x,
        Tier::Ultra4x,
        Tier::Ultra8x,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Lite => "lite",
            Tier::Base => "base",
            Tier::Core => "core",
            Tier::Core2x => "core2x",
            Tier::Pro => "pro",
            Tier::Ultra => "ultra",
            Tier::Ultra2x => "ultra2x",
            Tier::Ultra4x => "ultra4x",
            Tier::Ultra8x => "ultra8x",
        }
    }
}

/// A processor: a tier, optionally the `-fast` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Processor {
    pub tier: Tier,
    pub fast: bool,
}

impl Processor {
    /// Every accepted processor name.
    pub fn all() -> impl Iterator<Item = Processor> {
        Tier::ALL.into_iter().flat_map(|tier| {
            [false, true]
                .into_iter()
                .map(move |fast| Processor { tier, fast })
        })
    }

    /// Events are on by default from `pro` up, as Parallel documents.
    pub fn events_by_default(self) -> bool {
        self.tier >= Tier::Pro
    }
}

impl fmt::Display for Processor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tier.as_str())?;
        if self.fast {
            f.write_str("-fast")?;
        }
        Ok(())
    }
}

/// The name is not one of Parallel's processors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown processor '{0}'")]
pub struct UnknownProcessor(pub String);

impl FromStr for Processor {
    type Err = UnknownProcessor;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let (base, fast) = match name.strip_suffix("-fast") {
            Some(base) => (base, true),
            None => (name, false),
        };
        Tier::ALL
            .into_iter()
            .find(|tier| tier.as_str() == base)
            .map(|tier| Processor { tier, fast })
            .ok_or_else(|| UnknownProcessor(name.to_owned()))
    }
}

impl Serialize for Processor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Processor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_round_trips() {
        let names: Vec<String> = Processor::all().map(|p| p.to_string()).collect();
        assert_eq!(names.len(), 18);
        for name in &names {
            assert_eq!(name.parse::<Processor>().unwrap().to_string(), *name);
        }
        assert!(names.contains(&"ultra8x-fast".to_owned()));
    }

    #[test]
    fn unknown_names_are_refused() {
        for bad in ["", "turbo", "core-fast-fast", "-fast", "Core", "lite-slow"] {
            assert!(bad.parse::<Processor>().is_err(), "{bad}");
        }
    }
}
