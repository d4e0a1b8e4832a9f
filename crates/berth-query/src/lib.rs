//! The AWS Query protocol, which ELBv2, IAM and STS speak: a form-encoded `POST /` whose
//! members are flattened (`Name=web`, `Targets.member.1.Id=10.0.0.1`), read back here as
//! named members, lists and nested structures ([`Params`]); and XML answers, written
//! here in each service's namespace ([`xml`]). What each action means stays with its
//! service.

pub mod error;
pub mod params;
pub mod xml;

pub use error::QueryError;
pub use params::Params;
