#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod config;
pub mod error;
mod keys;
mod pages;
mod pending;
pub(crate) mod provider;
mod redirect;
pub mod session;
#[cfg(feature = "testing")]
pub mod testing;
mod user;

// PENDING: layer, routes, guard, extract are added once provider and config land.

pub use config::{AuthConfig, ConfigError, ProviderConfig, Secret};
pub use error::LoginError;
pub use user::{Tokens, User};
