//! The `wire_enum!` macro behind every generated enum of the AWS wire types ([`crate::ecs`],
//! [`crate::ecr`]).

/// Defines a string enum of an AWS service model: serde renames per variant, `ALL`, `as_str`,
/// `Display` and `FromStr`. Deserializing a value the model does not define is an error
/// that names the value and lists the valid ones.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($variant:ident = $wire:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        pub enum $name {
            $(
                #[doc = concat!("`", $wire, "`")]
                #[serde(rename = $wire)]
                $variant,
            )+
        }

        impl $name {
            /// Every value the model defines, in the model's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value exactly as AWS spells it on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ecs::UnknownEnumValue;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|known| known.as_str() == value)
                    .ok_or_else(|| {
                        $crate::ecs::UnknownEnumValue::new(
                            stringify!($name),
                            value,
                            Self::ALL.iter().map(|known| known.as_str()),
                        )
                    })
            }
        }
    };
}
